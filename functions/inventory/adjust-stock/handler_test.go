package function

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/orders/ordertest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func count(t testing.TB, db *pgtest.DB, sql string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// products makes products with the given units on hand.
func products(t testing.TB, db *pgtest.DB, onHand ...int) []uuid.UUID {
	t.Helper()
	ps := catalogtest.Create(t, db.Pool, len(onHand), nil)
	ids := make([]uuid.UUID, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
		if onHand[i] > 0 {
			if _, err := inventory.AddStock(context.Background(), db.Pool, p.ID, onHand[i], ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

func onHand(t testing.TB, db *pgtest.DB, id uuid.UUID) inventory.Stock {
	t.Helper()
	s, err := inventory.Get(context.Background(), db.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// placed is an order.placed event for a new order of quantities of products, 1.00 EUR each.
func placed(t testing.TB, lines map[uuid.UUID]int) (events.Envelope, events.OrderPlacedV1) {
	t.Helper()
	p := events.OrderPlacedV1{OrderID: uuid.New(), CustomerID: uuid.New(), Total: money.Money{Currency: "EUR"}}
	for id, q := range lines {
		p.Lines = append(p.Lines, events.Line{ProductID: id, Quantity: q, UnitPrice: money.Money{Amount: 100, Currency: "EUR"}})
		p.Total.Amount += 100 * int64(q)
	}
	return ordertest.Event(t, events.OrderPlaced, p.OrderID, p), p
}

func TestReservesEveryLine(t *testing.T) {
	db := pgtest.New(t)
	ids := products(t, db, 10, 5)
	env, p := placed(t, map[uuid.UUID]int{ids[0]: 3, ids[1]: 5})

	res := fntest.Deliver(t, newApp(db.Pool), env)
	if res.Duplicate || len(res.Emitted) != 1 || res.Emitted[0] != events.StockReserved {
		t.Fatalf("result %+v", res)
	}
	if a, b := onHand(t, db, ids[0]), onHand(t, db, ids[1]); a.OnHand != 7 || a.Reserved != 3 || b.OnHand != 0 || b.Reserved != 5 {
		t.Fatalf("stock %+v %+v", a, b)
	}
	out := ordertest.Outbox(t, db.Pool, events.StockReserved, p.OrderID)
	if len(out) != 1 {
		t.Fatalf("%d stock.reserved events", len(out))
	}
	var got events.StockReservedV1
	if err := out[0].Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.OrderID != p.OrderID || got.CustomerID != p.CustomerID || got.Total != p.Total || len(got.Lines) != 2 {
		t.Fatalf("stock.reserved %+v for %+v", got, p)
	}

	// Delivered again: nothing changes.
	if res := fntest.Deliver(t, newApp(db.Pool), env); !res.Duplicate || len(res.Emitted) != 0 {
		t.Fatalf("redelivery %+v", res)
	}
	if a := onHand(t, db, ids[0]); a.OnHand != 7 || a.Reserved != 3 {
		t.Fatalf("redelivery changed stock: %+v", a)
	}
	if n := len(ordertest.Outbox(t, db.Pool, events.StockReserved, p.OrderID)); n != 1 {
		t.Fatalf("redelivery emitted again: %d events", n)
	}
}

func TestRejectsAllWhenOneLineIsShort(t *testing.T) {
	db := pgtest.New(t)
	ids := products(t, db, 10, 5, 0)
	ghost := uuid.New() // no stock row: none available
	env, p := placed(t, map[uuid.UUID]int{ids[0]: 3, ids[1]: 6, ids[2]: 1, ghost: 2})

	for range 2 { // the second delivery is a duplicate
		res := fntest.Deliver(t, newApp(db.Pool), env)
		if !res.Duplicate && (len(res.Emitted) != 1 || res.Emitted[0] != events.StockRejected) {
			t.Fatalf("result %+v", res)
		}
	}
	if a, b := onHand(t, db, ids[0]), onHand(t, db, ids[1]); a.OnHand != 10 || b.OnHand != 5 || a.Reserved+b.Reserved != 0 {
		t.Fatalf("a rejected order took stock: %+v %+v", a, b)
	}
	if n := count(t, db, "SELECT count(*) FROM inventory.reservations"); n != 0 {
		t.Fatalf("%d reservations for a rejected order", n)
	}
	out := ordertest.Outbox(t, db.Pool, events.StockRejected, p.OrderID)
	if len(out) != 1 {
		t.Fatalf("%d stock.rejected events", len(out))
	}
	var got events.StockRejectedV1
	if err := out[0].Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]events.Shortage{
		ids[1]: {ProductID: ids[1], Requested: 6, Available: 5},
		ids[2]: {ProductID: ids[2], Requested: 1, Available: 0},
		ghost:  {ProductID: ghost, Requested: 2, Available: 0},
	}
	if got.OrderID != p.OrderID || got.CustomerID != p.CustomerID || len(got.Short) != len(want) {
		t.Fatalf("stock.rejected %+v", got)
	}
	for _, s := range got.Short {
		if want[s.ProductID] != s {
			t.Errorf("shortage %+v, want %+v", s, want[s.ProductID])
		}
	}
}

// TestConcurrentOrdersNeverOversell: 200 orders for one unit each of a product with 50 on hand
// arrive at once. Exactly 50 are reserved, the rest rejected, stock ends at 0, and no
// delivery fails.
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	db := pgtest.New(t)
	ids := products(t, db, 50, 1000)
	app := newApp(db.Pool)
	const orders = 200
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		reserved int
		rejected int
	)
	for i := range orders {
		lines := map[uuid.UUID]int{ids[0]: 1}
		if i%2 == 0 { // half the orders lock two rows, in either order of their lines
			lines[ids[1]] = 1
		}
		env, _ := placed(t, lines)
		wg.Go(func() {
			resp := fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", env)
			if resp.Status != http.StatusOK {
				t.Errorf("status %d: %s", resp.Status, resp.Body)
				return
			}
			var res inbox.Result
			resp.Decode(t, &res)
			mu.Lock()
			defer mu.Unlock()
			switch res.Emitted[0] {
			case events.StockReserved:
				reserved++
			case events.StockRejected:
				rejected++
			}
		})
	}
	wg.Wait()
	if reserved != 50 || rejected != orders-50 {
		t.Fatalf("%d reserved, %d rejected; want 50 and %d", reserved, rejected, orders-50)
	}
	s := onHand(t, db, ids[0])
	if s.OnHand != 0 || s.Reserved != 50 {
		t.Fatalf("stock after the rush: %+v", s)
	}
	if n := count(t, db, "SELECT count(DISTINCT order_id) FROM inventory.reservations WHERE product_id = '"+ids[0].String()+"'"); n != 50 {
		t.Fatalf("%d orders hold the product", n)
	}
	if other := onHand(t, db, ids[1]); other.OnHand+other.Reserved != 1000 {
		t.Fatalf("second product not conserved: %+v", other)
	}
}

func TestRefusesBadEvents(t *testing.T) {
	db := pgtest.New(t)
	ids := products(t, db, 10)
	app := newApp(db.Pool)
	good, _ := placed(t, map[uuid.UUID]int{ids[0]: 1})
	withPayload := func(payload string) events.Envelope {
		e := good
		e.ID = uuid.New()
		e.Payload = []byte(payload)
		return e
	}
	line := func(q string) string {
		return `{"order_id":"` + uuid.NewString() + `","customer_id":"` + uuid.NewString() + `","total":{"amount":100,"currency":"EUR"},` +
			`"lines":[{"product_id":"` + ids[0].String() + `","quantity":` + q + `,"unit_price":{"amount":100,"currency":"EUR"}}]}`
	}
	wrongType := good
	wrongType.ID, wrongType.Type = uuid.New(), events.OrderCancelled
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", fntest.Raw(`{"id":`), 400, "invalid_event"},
		{"not an envelope", fntest.Raw(`{"order_id":"x"}`), 400, "invalid_event"},
		{"wrong event type", wrongType, 400, "unexpected_event_type"},
		{"zero quantity", withPayload(line("0")), 400, "invalid_event"},
		{"negative quantity", withPayload(line("-3")), 400, "invalid_event"},
		{"fractional quantity", withPayload(line("1.5")), 400, "invalid_event"},
		{"quantity as text", withPayload(line(`"1"`)), 400, "invalid_event"},
		{"unknown field", withPayload(strings.Replace(line("1"), `{"order_id"`, `{"coupon":"X","order_id"`, 1)), 400, "invalid_event"},
		{"bad product id", withPayload(strings.Replace(line("1"), ids[0].String(), "not-a-uuid", 1)), 400, "invalid_event"},
		{"no lines", withPayload(`{"order_id":"` + uuid.NewString() + `","customer_id":"` + uuid.NewString() + `","total":{"amount":0,"currency":"EUR"},"lines":[]}`), 400, "invalid_event"},
		{"oversize body", fntest.Raw(`{"id":"` + strings.Repeat("x", 1<<20) + `"}`), 413, "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", c.body).ExpectError(t, c.status, c.code)
		})
	}
	if n := count(t, db, "SELECT count(*) FROM messaging.inbox") + count(t, db, "SELECT count(*) FROM inventory.reservations") + ordertest.OutboxCount(t, db.Pool); n != 0 {
		t.Fatalf("bad events left %d rows behind", n)
	}
	if s := onHand(t, db, ids[0]); s.OnHand != 10 {
		t.Fatalf("bad events changed stock: %+v", s)
	}
	fntest.CallAs(t, fntest.Service, app, http.MethodGet, "/", nil).ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}
