package function

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/orders/ordertest"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func stock(t *testing.T, db *pgtest.DB, id uuid.UUID) inventory.Stock {
	t.Helper()
	s, err := inventory.Get(context.Background(), db.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reserved makes two products with 10 units each and an order holding 3 and 4 of them.
func reserved(t *testing.T, db *pgtest.DB) (order uuid.UUID, a, b uuid.UUID) {
	t.Helper()
	ps := catalogtest.Create(t, db.Pool, 2, nil)
	a, b, order = ps[0].ID, ps[1].ID, uuid.New()
	ctx := context.Background()
	for _, id := range []uuid.UUID{a, b} {
		if _, err := inventory.AddStock(ctx, db.Pool, id, 10, ""); err != nil {
			t.Fatal(err)
		}
	}
	err := pg.InTx(ctx, db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		short, err := inventory.Reserve(ctx, tx, order, []inventory.Item{{ProductID: a, Quantity: 3}, {ProductID: b, Quantity: 4}})
		if short != nil {
			t.Fatalf("short %+v", short)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return order, a, b
}

func cancelled(t *testing.T, order uuid.UUID) events.Envelope {
	t.Helper()
	return ordertest.Event(t, events.OrderCancelled, order, events.OrderCancelledV1{
		OrderID: order, CustomerID: uuid.New(), Total: money.Money{Amount: 700, Currency: "EUR"}, Reason: "payment_failed",
	})
}

func TestReleasesOnce(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	order, a, b := reserved(t, db)
	if sa, sb := stock(t, db, a), stock(t, db, b); sa.OnHand != 7 || sb.OnHand != 6 {
		t.Fatalf("before: %+v %+v", sa, sb)
	}
	env := cancelled(t, order)
	var res inbox.Result
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", env).Expect(t, http.StatusOK).Decode(t, &res)
	if res.Duplicate || len(res.Emitted) != 0 {
		t.Fatalf("result %+v", res)
	}
	check := func(when string) {
		t.Helper()
		if sa, sb := stock(t, db, a), stock(t, db, b); sa.OnHand != 10 || sb.OnHand != 10 || sa.Reserved+sb.Reserved != 0 {
			t.Fatalf("%s: %+v %+v", when, sa, sb)
		}
	}
	check("released")
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", env).Expect(t, http.StatusOK).Decode(t, &res)
	if !res.Duplicate {
		t.Fatalf("redelivery %+v", res)
	}
	check("redelivered")
	// Another order.cancelled for the same order (a second cancel path) puts nothing back twice.
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", cancelled(t, order)).Expect(t, http.StatusOK).Decode(t, &res)
	if res.Duplicate {
		t.Fatalf("a distinct event was taken for a duplicate: %+v", res)
	}
	check("cancelled twice")
}

func TestNothingReservedIsANoOp(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	_, a, _ := reserved(t, db)
	var res inbox.Result
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", cancelled(t, uuid.New())).Expect(t, http.StatusOK).Decode(t, &res)
	if res.Duplicate || len(res.Emitted) != 0 {
		t.Fatalf("result %+v", res)
	}
	if s := stock(t, db, a); s.OnHand != 7 || s.Reserved != 3 {
		t.Fatalf("another order's reservation moved: %+v", s)
	}
}

func TestRefusesBadEvents(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	order, a, _ := reserved(t, db)
	noReason := cancelled(t, order)
	noReason.Payload = []byte(`{"order_id":"` + order.String() + `","customer_id":"` + uuid.NewString() + `","total":{"amount":1,"currency":"EUR"},"reason":""}`)
	badID := cancelled(t, order)
	badID.Payload = []byte(`{"order_id":"42","customer_id":"` + uuid.NewString() + `","total":{"amount":1,"currency":"EUR"},"reason":"x"}`)
	wrongType := cancelled(t, order)
	wrongType.Type = events.OrderPlaced
	for name, body := range map[string]any{"no reason": noReason, "bad order id": badID, "wrong type": wrongType, "malformed": fntest.Raw(`[`)} {
		t.Run(name, func(t *testing.T) {
			resp := fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", body)
			if resp.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
		})
	}
	if s := stock(t, db, a); s.OnHand != 7 || s.Reserved != 3 {
		t.Fatalf("bad events released stock: %+v", s)
	}
	var n int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM messaging.inbox").Scan(&n); err != nil || n != 0 {
		t.Fatalf("bad events recorded: %d, %v", n, err)
	}
}
