package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/money"
)

// subscribers are the functions each event type reaches (stack.yml's topic annotations).
var subscribers = map[string][]string{
	events.OrderPlaced:      {"adjust-stock", "send-notification"},
	events.StockReserved:    {"charge-payment"},
	events.StockRejected:    {"cancel-order"},
	events.PaymentSucceeded: {"complete-order"},
	events.PaymentFailed:    {"cancel-order"},
	events.OrderCompleted:   {"send-notification"},
	events.OrderCancelled:   {"send-notification", "release-stock"},
}

// subscriptionsSQL is subscribers as a VALUES list (event_type, consumer).
func subscriptionsSQL() string {
	var rows []string
	for typ, fns := range subscribers {
		for _, f := range fns {
			rows = append(rows, fmt.Sprintf("('%s', '%s')", typ, f))
		}
	}
	slices.Sort(rows)
	return "(VALUES " + strings.Join(rows, ", ") + ") AS subs(event_type, consumer)"
}

// customers registers n customers at once and returns their tokens.
func (s *shop) customers(t *testing.T, prefix string, n int) []string {
	t.Helper()
	toks := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, toks[i] = s.customer(t, fmt.Sprintf("%s-%d@example.com", prefix, i)) })
	}
	wg.Wait()
	return toks
}

// placement is one order to place: whose and what.
type placement struct {
	token string
	lines []any
}

// placeAll places every order at once (one goroutine each), as customers would: a 429 is
// retried after its Retry-After with the same Idempotency-Key, and so is a 5xx when
// retryServerErrors (while the database restarts, say). It returns the ids of the accepted
// orders, the final answers other than 202 by status (0: no answer) and the retried ones.
func (s *shop) placeAll(t *testing.T, ps []placement, retryServerErrors bool) (ids []string, other, retried map[int]int) {
	t.Helper()
	ids = make([]string, len(ps))
	other, retried = map[int]int{}, map[int]int{}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i, pl := range ps {
		wg.Go(func() {
			key := uuid.NewString()
			for attempt := 0; ; attempt++ {
				r, err := s.p.TryCall(context.Background(), http.MethodPost, "create-order", pl.token,
					map[string]any{"lines": pl.lines}, "Idempotency-Key", key)
				if err != nil {
					mu.Lock()
					other[0]++
					mu.Unlock()
					return
				}
				if (r.Status == http.StatusTooManyRequests || retryServerErrors && r.Status >= 500) && attempt < 20 {
					mu.Lock()
					retried[r.Status]++
					mu.Unlock()
					wait, _ := strconv.Atoi(r.Header.Get("Retry-After"))
					time.Sleep(time.Duration(max(wait, 1)) * 100 * time.Millisecond) // the client's backoff, not a sync
					continue
				}
				if r.Status != http.StatusAccepted {
					mu.Lock()
					other[r.Status]++
					mu.Unlock()
					return
				}
				var o order
				if json.Unmarshal(r.Body, &o) == nil {
					ids[i] = o.ID
				}
				return
			}
		})
	}
	wg.Wait()
	if len(retried) > 0 {
		t.Logf("placing %d orders: answers retried by status: %v", len(ps), retried)
	}
	return slices.DeleteFunc(ids, func(id string) bool { return id == "" }), other, retried
}

// quiet waits until every outbox row is published and every event has been handled by each
// of its subscribers (messaging.inbox), i.e. nothing is left in flight.
func quiet(t *testing.T, p *platform.Platform, timeout time.Duration) {
	t.Helper()
	var unpublished, undelivered int
	platform.Eventually(t, timeout, func() bool {
		err := p.DB.Pool.QueryRow(t.Context(), `SELECT
			(SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL),
			(SELECT count(*) FROM messaging.outbox o JOIN `+subscriptionsSQL()+` USING (event_type)
			 WHERE NOT EXISTS (SELECT 1 FROM messaging.inbox i WHERE i.consumer = subs.consumer AND i.event_id = o.event_id))`).
			Scan(&unpublished, &undelivered)
		return err == nil && unpublished == 0 && undelivered == 0
	}, func() string {
		return fmt.Sprintf("%d outbox rows unpublished, %d deliveries not handled", unpublished, undelivered)
	})
}

// count runs a query answering one number.
func count(t *testing.T, p *platform.Platform, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := p.DB.Pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	return n
}

// zero fails t with what when the query answers anything but 0.
func zero(t *testing.T, p *platform.Platform, what, sql string, args ...any) {
	t.Helper()
	if n := count(t, p, sql, args...); n != 0 {
		t.Errorf("%s: %d", what, n)
	}
}

// charges reads every charge the payment simulator made (or those for one order).
func charges(t *testing.T, p *platform.Platform, orderRef string) []struct {
	ID, Status, OrderRef string
} {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.PaymentURL+"/v1/charges?order_ref="+orderRef, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.PaymentAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Charges []struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			OrderRef string `json:"order_ref"`
		} `json:"charges"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/charges: %d %v", resp.StatusCode, err)
	}
	res := make([]struct{ ID, Status, OrderRef string }, len(out.Charges))
	for i, c := range out.Charges {
		res[i] = struct{ ID, Status, OrderRef string }{c.ID, c.Status, c.OrderRef}
	}
	return res
}

// checkBooks checks, over the whole database once it is quiet, what must hold whatever
// happened: orders final, stock conserved and never negative, reservations matching the
// orders' outcomes, at most one successful charge per order (database and provider agree),
// one notification per customer-facing event, every event published and handled by each
// subscriber, and nothing dead-lettered.
func checkBooks(t *testing.T, p *platform.Platform) {
	t.Helper()
	zero(t, p, "orders not final", "SELECT count(*) FROM orders.orders WHERE status NOT IN ('COMPLETED', 'CANCELLED')")

	// Stock: restocked - reserved (every reservation row) + released = on hand, never negative.
	rows, err := p.DB.Pool.Query(t.Context(), `SELECT s.product_id::text, s.on_hand,
		coalesce((SELECT sum(quantity) FROM inventory.restocks r WHERE r.product_id = s.product_id), 0),
		coalesce((SELECT sum(quantity) FROM inventory.reservations r WHERE r.product_id = s.product_id), 0),
		coalesce((SELECT sum(quantity) FROM inventory.reservations r WHERE r.product_id = s.product_id AND status = 'RELEASED'), 0)
		FROM inventory.stock s`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			id                                   string
			onHand, restocked, reserved, release int64
		)
		if err := rows.Scan(&id, &onHand, &restocked, &reserved, &release); err != nil {
			t.Fatal(err)
		}
		if onHand < 0 || restocked-reserved+release != onHand {
			t.Errorf("stock of %s: restocked %d - reserved %d + released %d != on hand %d", id, restocked, reserved, release, onHand)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// Reservations follow the outcome: a completed order holds every line; a cancelled one
	// holds nothing; a payment failure had reserved and released; a stock rejection never held.
	zero(t, p, "lines of completed orders not held", `SELECT count(*) FROM orders.order_lines l JOIN orders.orders o ON o.id = l.order_id
		WHERE o.status = 'COMPLETED' AND NOT EXISTS (SELECT 1 FROM inventory.reservations r
		WHERE r.order_id = l.order_id AND r.product_id = l.product_id AND r.quantity = l.quantity AND r.status = 'RESERVED')`)
	zero(t, p, "cancelled orders still holding stock", `SELECT count(*) FROM inventory.reservations r JOIN orders.orders o ON o.id = r.order_id
		WHERE o.status = 'CANCELLED' AND r.status = 'RESERVED'`)
	zero(t, p, "payment failures without released reservations", `SELECT count(*) FROM orders.orders o
		WHERE o.cancel_reason = 'payment_failed' AND NOT EXISTS (SELECT 1 FROM inventory.reservations r WHERE r.order_id = o.id AND r.status = 'RELEASED')`)
	zero(t, p, "stock rejections with reservations", `SELECT count(*) FROM inventory.reservations r JOIN orders.orders o ON o.id = r.order_id
		WHERE o.cancel_reason = 'stock_rejected'`)
	zero(t, p, "reservations of no order", `SELECT count(*) FROM inventory.reservations r WHERE NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = r.order_id)`)

	// Payments: the database's record matches the outcome...
	zero(t, p, "completed orders without a successful payment", `SELECT count(*) FROM orders.orders o WHERE o.status = 'COMPLETED'
		AND NOT EXISTS (SELECT 1 FROM payments.payments y WHERE y.order_id = o.id AND y.status = 'SUCCEEDED')`)
	zero(t, p, "cancelled orders with a successful payment", `SELECT count(*) FROM orders.orders o JOIN payments.payments y ON y.order_id = o.id
		WHERE o.status = 'CANCELLED' AND y.status = 'SUCCEEDED'`)
	zero(t, p, "stock rejections with a payment", `SELECT count(*) FROM orders.orders o JOIN payments.payments y ON y.order_id = o.id
		WHERE o.cancel_reason = 'stock_rejected'`)
	// ... and so does the provider's: at most one successful charge per order, the one recorded.
	recorded := map[string]string{}
	prows, err := p.DB.Pool.Query(t.Context(), "SELECT order_id::text, coalesce(provider_ref, '') FROM payments.payments WHERE status = 'SUCCEEDED'")
	if err != nil {
		t.Fatal(err)
	}
	for prows.Next() {
		var id, ref string
		if err := prows.Scan(&id, &ref); err != nil {
			t.Fatal(err)
		}
		recorded[id] = ref
	}
	succeeded := map[string][]string{}
	for _, c := range charges(t, p, "") {
		if c.Status == "succeeded" {
			succeeded[c.OrderRef] = append(succeeded[c.OrderRef], c.ID)
		}
	}
	for order, ids := range succeeded {
		if len(ids) > 1 {
			t.Errorf("order %s charged %d times: %v", order, len(ids), ids)
		}
		if recorded[order] != ids[0] {
			t.Errorf("order %s: the provider charged %s, the database recorded %q", order, ids[0], recorded[order])
		}
	}
	for order := range recorded {
		if len(succeeded[order]) == 0 {
			t.Errorf("order %s: a successful payment recorded that the provider never made", order)
		}
	}

	// Events: one of each kind per order, as its outcome says.
	zero(t, p, "orders whose events do not match their outcome", `SELECT count(*) FROM orders.orders o, LATERAL (SELECT
		count(*) FILTER (WHERE event_type = 'order.placed') AS placed,
		count(*) FILTER (WHERE event_type IN ('stock.reserved', 'stock.rejected')) AS stock,
		count(*) FILTER (WHERE event_type = 'stock.reserved') AS reserved,
		count(*) FILTER (WHERE event_type IN ('payment.succeeded', 'payment.failed')) AS paid,
		count(*) FILTER (WHERE event_type = 'order.completed') AS completed,
		count(*) FILTER (WHERE event_type = 'order.cancelled') AS cancelled
		FROM messaging.outbox e WHERE e.correlation_id = o.id::text) n
		WHERE NOT (n.placed = 1 AND n.stock = 1 AND n.paid = n.reserved
		AND n.completed = (o.status = 'COMPLETED')::int AND n.cancelled = (o.status = 'CANCELLED')::int)`)
	zero(t, p, "outbox rows unpublished", "SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL")
	zero(t, p, "deliveries not handled", `SELECT count(*) FROM messaging.outbox o JOIN `+subscriptionsSQL()+` USING (event_type)
		WHERE NOT EXISTS (SELECT 1 FROM messaging.inbox i WHERE i.consumer = subs.consumer AND i.event_id = o.event_id)`)

	// Notifications: exactly one per customer-facing event and channel (customers here
	// want e-mail only), and none for anything else.
	zero(t, p, "customer-facing events without exactly one notification", `SELECT count(*) FROM messaging.outbox o
		WHERE o.event_type IN ('order.placed', 'order.completed', 'order.cancelled')
		AND (SELECT count(*) FROM notifications.notifications n WHERE n.event_id = o.event_id AND n.channel = 'email') <> 1`)
	zero(t, p, "notifications for no customer-facing event", `SELECT count(*) FROM notifications.notifications n
		WHERE NOT EXISTS (SELECT 1 FROM messaging.outbox o WHERE o.event_id = n.event_id
		AND o.event_type IN ('order.placed', 'order.completed', 'order.cancelled'))`)

	for q, n := range p.DeadLetters(t) {
		if n != 0 {
			t.Errorf("%s holds %d messages", q, n)
		}
	}
}

func TestOrders(t *testing.T) {
	p := platform.Start(t, platform.Options{})
	s := newShop(t, p)
	toks := s.customers(t, "buyer", 10)
	tok := func(i int) string { return toks[i%len(toks)] }

	t.Run("500ConcurrentMixedOrdersSettle", func(t *testing.T) {
		plenty := s.product(t, "PLENTY-1", 1500, 10000)
		none := s.product(t, "NONE-1", 900, 0)
		declined := s.product(t, "DECLINED-1", 1013, 1000) // 1013 ends in 13: the provider declines it
		scarce := s.product(t, "SCARCE-1", 700, 40)
		var ps []placement
		for i := range 500 {
			var lines []any
			switch i % 5 {
			case 0, 1:
				lines = []any{line(plenty, 1+i%3)}
			case 2:
				lines = []any{line(none, 1)}
			case 3:
				lines = []any{line(declined, 1)}
			case 4:
				lines = []any{line(plenty, 1), line(scarce, 1)} // 100 orders for 40 units
			}
			ps = append(ps, placement{token: tok(i), lines: lines})
		}
		ids, other, _ := s.placeAll(t, ps, false)
		if len(other) > 0 {
			t.Fatalf("create-order answered other than 202: %v (status 0: transport error)", other)
		}
		got := s.settled(t, ids, 3*time.Minute)
		quiet(t, p, time.Minute)

		want := map[int]string{0: "COMPLETED", 1: "COMPLETED", 2: "CANCELLED/stock_rejected", 3: "CANCELLED/payment_failed"}
		scarceDone := 0
		for i, id := range ids {
			o := got[id]
			outcome := o.Status
			if o.Status == "CANCELLED" {
				outcome += "/" + o.CancelReason
			}
			if w, ok := want[i%5]; ok && outcome != w {
				t.Errorf("order %d (%s) ended %s, want %s", i, id, outcome, w)
			}
			if i%5 == 4 {
				switch outcome {
				case "COMPLETED":
					scarceDone++
				case "CANCELLED/stock_rejected":
				default:
					t.Errorf("order %d (%s) for the scarce product ended %s", i, id, outcome)
				}
			}
		}
		if scarceDone != 40 {
			t.Errorf("%d orders for the scarce product completed, want all 40 units sold", scarceDone)
		}
		if n := count(t, p, "SELECT on_hand FROM inventory.stock WHERE product_id = $1", declined.ID); n != 1000 {
			t.Errorf("declined product: %d on hand after every reservation was released, want 1000", n)
		}
		checkBooks(t, p)
	})

	t.Run("200OrdersFor50UnitsSellExactly50", func(t *testing.T) {
		hot := s.product(t, "HOT-1", 2500, 50)
		var ps []placement
		for i := range 200 {
			ps = append(ps, placement{token: tok(i), lines: []any{line(hot, 1)}})
		}
		ids, other, _ := s.placeAll(t, ps, false)
		if len(other) > 0 {
			t.Fatalf("create-order answered other than 202: %v (status 0: transport error)", other)
		}
		got := s.settled(t, ids, 2*time.Minute)
		quiet(t, p, time.Minute)
		completed := 0
		for _, o := range got {
			switch {
			case o.Status == "COMPLETED":
				completed++
			case o.CancelReason != "stock_rejected":
				t.Errorf("order %s ended %s/%s", o.ID, o.Status, o.CancelReason)
			}
		}
		held := count(t, p, "SELECT coalesce(sum(quantity), 0) FROM inventory.reservations WHERE product_id = $1 AND status = 'RESERVED'", hot.ID)
		onHand := count(t, p, "SELECT on_hand FROM inventory.stock WHERE product_id = $1", hot.ID)
		if completed != 50 || held != 50 || onHand != 0 {
			t.Errorf("%d orders completed, %d units reserved, %d on hand; want 50, 50, 0", completed, held, onHand)
		}
		checkBooks(t, p)
	})

	t.Run("DeclinedPaymentReleasesStockAndTellsTheCustomer", func(t *testing.T) {
		card := s.product(t, "DECLINED-2", 1013, 7)
		email := "declined@example.com"
		_, ctok := s.customer(t, email)
		o := s.place(t, ctok, line(card, 1))
		got := s.settled(t, []string{o.ID}, time.Minute)[o.ID]
		if got.Status != "CANCELLED" || got.CancelReason != "payment_failed" {
			t.Fatalf("order ended %s/%s, want CANCELLED/payment_failed", got.Status, got.CancelReason)
		}
		quiet(t, p, time.Minute)
		if n := count(t, p, "SELECT count(*) FROM inventory.reservations WHERE order_id = $1 AND status = 'RELEASED'", o.ID); n != 1 {
			t.Errorf("%d released reservations, want 1", n)
		}
		if n := count(t, p, "SELECT on_hand FROM inventory.stock WHERE product_id = $1", card.ID); n != 7 {
			t.Errorf("%d on hand, want the 7 back", n)
		}
		if n := count(t, p, "SELECT count(*) FROM payments.payments WHERE order_id = $1 AND status = 'FAILED'", o.ID); n != 1 {
			t.Errorf("%d failed payments recorded, want 1", n)
		}
		if cs := charges(t, p, o.ID); len(cs) != 1 || cs[0].Status != "declined" {
			t.Errorf("the provider's charges for the order: %+v, want one declined", cs)
		}
		if n := count(t, p, `SELECT count(*) FROM notifications.notifications WHERE order_id = $1 AND event_type = 'order.cancelled'
			AND channel = 'email' AND recipient = $2`, o.ID, email); n != 1 {
			t.Errorf("%d cancellation e-mails to the customer, want 1", n)
		}
		mails := s.mailsTo(t, email)
		if len(mails) != 2 { // "order received", then the cancellation
			t.Errorf("the mail server got %d e-mails to %s, want 2 (received, cancelled): %v", len(mails), email, mails)
		}
		checkBooks(t, p)
	})

	t.Run("EveryEventDeliveredTwiceChangesNothing", func(t *testing.T) {
		quiet(t, p, time.Minute)
		before := p.Snapshot(t)
		chargesBefore := len(charges(t, p, ""))
		mailsBefore := len(s.mailsTo(t, ""))
		rows, err := p.DB.Pool.Query(t.Context(), "SELECT envelope::text FROM messaging.outbox ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		var msgs []broker.Message
		deliveries := 0
		for rows.Next() {
			var env string
			if err := rows.Scan(&env); err != nil {
				t.Fatal(err)
			}
			m, err := broker.EnvelopeMessage(events.Exchange, []byte(env))
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
			deliveries += len(subscribers[m.RoutingKey])
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		acks, err := platform.Metric(p.ConnectorMetrics, "connector_acks_total")
		if err != nil {
			t.Fatal(err)
		}
		p.Publish(t, msgs...)
		p.WaitMetric(t, p.ConnectorMetrics, "connector_acks_total", func(v float64) bool { return v >= acks+float64(deliveries) }, 3*time.Minute)
		after := p.Snapshot(t)
		if d := before.Diff(after); d != "" {
			t.Errorf("%d events (%d deliveries) again changed the database:\n%s", len(msgs), deliveries, d)
		}
		if n := len(charges(t, p, "")); n != chargesBefore {
			t.Errorf("the provider made %d charges, %d before the events came again", n, chargesBefore)
		}
		if n := len(s.mailsTo(t, "")); n != mailsBefore {
			t.Errorf("the mail server got %d e-mails, %d before the events came again", n, mailsBefore)
		}
		for q, n := range p.DeadLetters(t) {
			if n != 0 {
				t.Errorf("%s holds %d messages", q, n)
			}
		}
	})

	t.Run("MalformedMessagesGoToTheDLQAndReplayAfterAFix", func(t *testing.T) {
		poisonAndReplay(t, p)
	})
}

// mailsTo returns the subjects of the e-mails the mail simulator received for address ("" for
// every e-mail).
func (s *shop) mailsTo(t *testing.T, address string) []string {
	t.Helper()
	resp, err := http.Get(s.p.MailURL + "/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Messages []struct {
			To      []string `json:"to"`
			Subject string   `json:"subject"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range out.Messages {
		if address == "" || slices.Contains(m.To, address) {
			subjects = append(subjects, m.Subject)
		}
	}
	return subjects
}

// poisonAndReplay sends 1000 order.cancelled messages straight into release-stock's queue (as
// the exchange would route them), 10 of them malformed and spread among the good ones. The
// 10 go to the DLQ at once, the 990 are handled, nothing is retried (the queue never waits on
// a poison message). Then an operator fixes one in the DLQ and replays it with the
// connector's own `dlq replay`; it is handled.
func poisonAndReplay(t *testing.T, p *platform.Platform) {
	const fn = "release-stock"
	const label = fn + ".openfaas-fn" // the connector's metrics name a function with its namespace
	metric := func(name string, labels ...string) float64 {
		v, err := platform.Metric(p.ConnectorMetrics, name, append([]string{"function", label}, labels...)...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	acks0, dead0, retries0 := metric("connector_acks_total"), metric("connector_dead_letters_total", "reason", "client_error"), metric("connector_retries_total")
	dlq0 := p.QueueDepths(t, p.DLQName(fn))[p.DLQName(fn)]

	cancelled := func(reason string) (events.Envelope, []byte) {
		order := uuid.New()
		env, err := events.New(events.OrderCancelled, order.String(), events.OrderCancelledV1{
			OrderID: order, CustomerID: uuid.New(), Total: money.Money{Amount: 1000, Currency: "EUR"}, Reason: reason,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return env, b
	}
	// fixable is valid but for its payload: no reason, no total. The fix adds them.
	fixEnv, _ := cancelled("payment_failed")
	broken := fixEnv
	broken.Payload = json.RawMessage(fmt.Sprintf(`{"order_id":%q,"customer_id":%q}`, uuid.New(), uuid.New()))
	fixable, _ := json.Marshal(broken)
	envelopeWith := func(change func(map[string]any)) []byte {
		_, b := cancelled("payment_failed")
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		out, _ := json.Marshal(m)
		return out
	}
	malformed := [][]byte{
		fixable,
		[]byte("this is not JSON"),
		[]byte(""),
		[]byte(`["an", "array"]`),
		envelopeWith(func(m map[string]any) { delete(m, "id") }),
		envelopeWith(func(m map[string]any) { m["type"] = events.OrderPlaced }),
		envelopeWith(func(m map[string]any) { m["version"] = 0 }),
		envelopeWith(func(m map[string]any) { m["payload"] = nil }),
		envelopeWith(func(m map[string]any) { delete(m, "occurred_at") }),
		envelopeWith(func(m map[string]any) { m["payload"].(map[string]any)["extra"] = true }),
	}
	var (
		msgs    []broker.Message
		good    []uuid.UUID
		badIDs  []string
		fixedID = broken.ID.String()
	)
	for i := range 1000 {
		var (
			id   string
			body []byte
		)
		if i%100 == 37 { // 37, 137, ..., 937: spread through the run
			body, id = malformed[i/100], uuid.NewString()
			if i/100 == 0 {
				id = fixedID
			}
			badIDs = append(badIDs, id)
		} else {
			env, b := cancelled("stock_rejected")
			id, body = env.ID.String(), b
			good = append(good, env.ID)
		}
		msgs = append(msgs, broker.Message{
			Exchange: "", RoutingKey: p.QueueName(fn), MessageID: id, Type: events.OrderCancelled,
			Headers: map[string]any{"x-original-routing-key": events.OrderCancelled}, Body: body,
		})
	}
	p.Publish(t, msgs...)
	p.WaitMetric(t, p.ConnectorMetrics, "connector_acks_total", func(v float64) bool { return v >= acks0+990 }, 2*time.Minute, "function", label)
	p.WaitMetric(t, p.ConnectorMetrics, "connector_dead_letters_total", func(v float64) bool { return v >= dead0+10 }, time.Minute, "function", label, "reason", "client_error")
	platform.Eventually(t, time.Minute, func() bool { return p.QueueDepths(t, p.DLQName(fn))[p.DLQName(fn)] == dlq0+10 },
		func() string { return fmt.Sprintf("%v", p.QueueDepths(t, p.DLQName(fn))) })
	if n := count(t, p, "SELECT count(*) FROM messaging.inbox WHERE consumer = $1 AND event_id = ANY($2)", fn, good); n != 990 {
		t.Errorf("%d of the 990 good messages handled", n)
	}
	if r := metric("connector_retries_total"); r != retries0 {
		t.Errorf("%v retries: a malformed message was retried instead of dead-lettered at once", r-retries0)
	}
	if v := metric("connector_acks_total"); v != acks0+990 {
		t.Errorf("%v messages acked, want 990", v-acks0)
	}
	if q := p.QueueDepths(t, p.QueueName(fn))[p.QueueName(fn)]; q != 0 {
		t.Errorf("%d messages left in %s", q, p.QueueName(fn))
	}

	// The dead letters, as an operator lists them.
	conn := p.Procs["rabbitmq-connector"]
	out, err := conn.Command("dlq", "list", "--function", fn).CombinedOutput()
	if err != nil {
		t.Fatalf("dlq list: %v\n%s", err, out)
	}
	for _, id := range badIDs {
		if !strings.Contains(string(out), id) {
			t.Errorf("dlq list does not show %s:\n%s", id, out)
		}
	}

	// The fix: the operator takes the broken message out of the DLQ and puts the corrected
	// one in its place (same message id), then replays it.
	fixEnv.ID = broken.ID
	fixed, err := json.Marshal(fixEnv)
	if err != nil {
		t.Fatal(err)
	}
	replaceInDLQ(t, p, p.DLQName(fn), fixedID, fixed)
	out, err = conn.Command("dlq", "replay", "--function", fn, "--message-id", fixedID).CombinedOutput()
	if err != nil {
		t.Fatalf("dlq replay: %v\n%s", err, out)
	}
	platform.Eventually(t, time.Minute, func() bool {
		return count(t, p, "SELECT count(*) FROM messaging.inbox WHERE consumer = $1 AND event_id = $2", fn, broken.ID) == 1
	}, func() string { return "the replayed message was not handled" })
	if n := p.QueueDepths(t, p.DLQName(fn))[p.DLQName(fn)]; n != dlq0+9 {
		t.Errorf("%d messages in the DLQ after the replay, want %d", n, dlq0+9)
	}
}

// replaceInDLQ swaps the message with id in a DLQ for one with body: the new one is published
// (confirmed) before the old one is removed.
func replaceInDLQ(t *testing.T, p *platform.Platform, dlq, id string, body []byte) {
	t.Helper()
	amqpConn := p.Dial(t)
	defer amqpConn.Close()
	ch, err := amqpConn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close() // unacked gets go back to the DLQ
	n := p.QueueDepths(t, dlq)[dlq]
	for range n {
		d, ok, err := ch.Get(dlq, false)
		if err != nil || !ok {
			t.Fatalf("get from %s: %v (ok %v)", dlq, err, ok)
		}
		if d.MessageId != id {
			continue
		}
		p.Publish(t, broker.Message{
			Exchange: "", RoutingKey: dlq, MessageID: id, Type: d.Type, CorrelationID: d.CorrelationId,
			Headers: map[string]any{"x-original-routing-key": events.OrderCancelled}, Body: body,
		})
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s not in %s", id, dlq)
}
