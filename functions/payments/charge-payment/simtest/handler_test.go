package simtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	function "github.com/faas-commerce/faas-commerce/functions/payments/charge-payment"
	"github.com/faas-commerce/faas-commerce/infra/paymentsim"
	"github.com/faas-commerce/faas-commerce/infra/simhttp"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/payments"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

const apiKey = "test-api-key"

type env struct {
	t   *testing.T
	db  *pgtest.DB
	sim *paymentsim.Server
	url string
	app *fn.App
}

// setup starts the payment provider simulator (amounts ending in 13 are declined) and builds
// the function the way its Setup does, from env and a secrets folder.
func setup(t *testing.T, timeout string) *env {
	t.Helper()
	db := pgtest.New(t)
	sim := paymentsim.Handler(paymentsim.Config{DeclineSuffix: "13", APIKey: apiKey})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "payment-api-key"), []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := function.NewProvider(context.Background(), config.FromMap(map[string]string{
		"PAYMENT_PROVIDER_URL": srv.URL, "PAYMENT_PROVIDER_TIMEOUT": timeout,
	}, secrets))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, sim: sim, url: srv.URL, app: function.NewApp(db.Pool, p)}
}

func reserved(t *testing.T, order uuid.UUID, amount int64) events.Envelope {
	t.Helper()
	total := money.Money{Amount: amount, Currency: "EUR"}
	e, err := events.New(events.StockReserved, order.String(), events.StockReservedV1{
		OrderID: order, CustomerID: uuid.New(), Total: total,
		Lines: []events.Line{{ProductID: uuid.New(), Quantity: 1, UnitPrice: total}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) deliver(ev events.Envelope, want int) inbox.Result {
	e.t.Helper()
	var res inbox.Result
	resp := fntest.CallAs(e.t, fntest.Service, e.app, http.MethodPost, "/", ev).Expect(e.t, want)
	if want == http.StatusOK {
		resp.Decode(e.t, &res)
	}
	return res
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// outgoing returns the envelopes in the outbox for the order.
func (e *env) outgoing(order uuid.UUID) []events.Envelope {
	e.t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), "SELECT envelope FROM messaging.outbox WHERE correlation_id = $1 ORDER BY seq", order.String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []events.Envelope
	for rows.Next() {
		var b []byte
		var env events.Envelope
		if err := rows.Scan(&b); err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal(b, &env); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, env)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// nothingRecorded fails unless the order has no payment, no outgoing event and its event was
// not marked handled, so a redelivery does all the work.
func (e *env) nothingRecorded(order uuid.UUID, ev events.Envelope) {
	e.t.Helper()
	if _, err := payments.Get(context.Background(), e.db.Pool, order); !errors.Is(err, payments.ErrNotFound) {
		e.t.Fatalf("payment recorded: %v", err)
	}
	if out := e.outgoing(order); len(out) != 0 {
		e.t.Fatalf("events emitted: %+v", out)
	}
	if n := e.count("SELECT count(*) FROM messaging.inbox WHERE event_id = $1", ev.ID); n != 0 {
		e.t.Fatal("event marked handled")
	}
}

func TestChargeSucceeds(t *testing.T) {
	e := setup(t, "5s")
	order := uuid.New()
	ev := reserved(t, order, 1999)
	res := e.deliver(ev, http.StatusOK)
	if res.Duplicate || len(res.Emitted) != 1 || res.Emitted[0] != events.PaymentSucceeded {
		t.Fatalf("result %+v", res)
	}
	charges := e.sim.Charges(order.String())
	if len(charges) != 1 || charges[0].Amount != 1999 || charges[0].Currency != "EUR" {
		t.Fatalf("charges at the provider: %+v", charges)
	}
	pay, err := payments.Get(context.Background(), e.db.Pool, order)
	if err != nil || pay.Status != payments.StatusSucceeded || pay.ProviderRef != charges[0].ID || pay.Amount.Amount != 1999 {
		t.Fatalf("payment %+v, %v", pay, err)
	}
	out := e.outgoing(order)
	var p events.PaymentSucceededV1
	if len(out) != 1 || out[0].Decode(&p) != nil || p.ProviderRef != charges[0].ID || p.Amount.Amount != 1999 || out[0].CorrelationID != order.String() {
		t.Fatalf("outgoing %+v (payload %+v)", out, p)
	}
}

func TestDeclineEmitsPaymentFailed(t *testing.T) {
	e := setup(t, "5s")
	order := uuid.New()
	res := e.deliver(reserved(t, order, 1013), http.StatusOK)
	if len(res.Emitted) != 1 || res.Emitted[0] != events.PaymentFailed {
		t.Fatalf("result %+v", res)
	}
	pay, err := payments.Get(context.Background(), e.db.Pool, order)
	if err != nil || pay.Status != payments.StatusFailed || pay.Failure != paymentsim.DeclineCard {
		t.Fatalf("payment %+v, %v", pay, err)
	}
	out := e.outgoing(order)
	var p events.PaymentFailedV1
	if len(out) != 1 || out[0].Decode(&p) != nil || p.Reason != paymentsim.DeclineCard || p.OrderID != order {
		t.Fatalf("outgoing %+v (payload %+v)", out, p)
	}
}

func TestProviderDownAnswers503AndRecordsNothing(t *testing.T) {
	e := setup(t, "5s")
	order := uuid.New()
	ev := reserved(t, order, 500)
	e.sim.Faults().SetDown(true)
	fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusServiceUnavailable, "payment_provider_unavailable")
	e.nothingRecorded(order, ev)
	if n := len(e.sim.Charges("")); n != 0 {
		t.Fatalf("%d charges while down", n)
	}

	e.sim.Faults().SetDown(false)
	if res := e.deliver(ev, http.StatusOK); len(res.Emitted) != 1 || res.Emitted[0] != events.PaymentSucceeded {
		t.Fatalf("redelivery once up: %+v", res)
	}
}

// TestTimeoutThenRedeliveryChargesOnce: the provider charges but answers too late; the function
// answers 503 and records nothing; the redelivered event gets the same charge back.
func TestTimeoutThenRedeliveryChargesOnce(t *testing.T) {
	e := setup(t, "50ms")
	order := uuid.New()
	ev := reserved(t, order, 2500)
	e.sim.Faults().Set(simhttp.State{Latency: simhttp.Duration(time.Hour)})
	fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusServiceUnavailable, "payment_provider_unavailable")
	e.nothingRecorded(order, ev)
	first := e.sim.Charges(order.String())
	if len(first) != 1 {
		t.Fatalf("charges after the timeout: %+v", first)
	}

	e.sim.Faults().Set(simhttp.State{})
	e.deliver(ev, http.StatusOK)
	if got := e.sim.Charges(order.String()); len(got) != 1 || got[0] != first[0] {
		t.Fatalf("charges after redelivery: %+v", got)
	}
	pay, err := payments.Get(context.Background(), e.db.Pool, order)
	if err != nil || pay.ProviderRef != first[0].ID {
		t.Fatalf("payment %+v, %v; want the first charge %s", pay, err, first[0].ID)
	}
}

func TestDuplicatesChargeOnce(t *testing.T) {
	e := setup(t, "5s")

	t.Run("same event twice", func(t *testing.T) {
		order := uuid.New()
		ev := reserved(t, order, 700)
		e.deliver(ev, http.StatusOK)
		if res := e.deliver(ev, http.StatusOK); !res.Duplicate || len(res.Emitted) != 0 {
			t.Fatalf("second delivery %+v", res)
		}
		e.expectOnce(t, order)
	})

	t.Run("same event concurrently", func(t *testing.T) {
		order := uuid.New()
		ev := reserved(t, order, 800)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if resp := fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev); resp.Status != http.StatusOK {
					t.Errorf("status %d: %s", resp.Status, resp.Body)
				}
			})
		}
		wg.Wait()
		e.expectOnce(t, order)
	})

	t.Run("another stock.reserved for a paid order", func(t *testing.T) {
		order := uuid.New()
		e.deliver(reserved(t, order, 900), http.StatusOK)
		if res := e.deliver(reserved(t, order, 900), http.StatusOK); res.Duplicate || len(res.Emitted) != 0 {
			t.Fatalf("second event for the order %+v", res)
		}
		e.expectOnce(t, order)
	})

	t.Run("charged before a crash, then redelivered", func(t *testing.T) {
		// A process charged and died before its commit: the provider has the charge under the
		// order id, the database has nothing.
		order := uuid.New()
		ev := reserved(t, order, 1100)
		var in events.StockReservedV1
		if err := ev.Decode(&in); err != nil {
			t.Fatal(err)
		}
		p, err := payments.NewHTTPProvider(payments.ProviderConfig{URL: e.url}, payments.ProviderSecrets{APIKey: apiKey}, nil)
		if err != nil {
			t.Fatal(err)
		}
		earlier, err := p.Charge(context.Background(), payments.ChargeRequest{Amount: in.Total, CustomerRef: in.CustomerID.String(), OrderRef: order.String(), IdempotencyKey: order.String()})
		if err != nil {
			t.Fatal(err)
		}
		e.deliver(ev, http.StatusOK)
		e.expectOnce(t, order)
		if pay, _ := payments.Get(context.Background(), e.db.Pool, order); pay.ProviderRef != earlier.ID {
			t.Fatalf("payment ref %q, want the earlier charge %q", pay.ProviderRef, earlier.ID)
		}
	})
}

// expectOnce fails unless the order has one charge at the provider, one payment row and one
// payment.succeeded.
func (e *env) expectOnce(t *testing.T, order uuid.UUID) {
	t.Helper()
	if got := e.sim.Charges(order.String()); len(got) != 1 {
		t.Fatalf("%d charges at the provider, want 1", len(got))
	}
	if n := e.count("SELECT count(*) FROM payments.payments WHERE order_id = $1", order); n != 1 {
		t.Fatalf("%d payment rows, want 1", n)
	}
	if n := e.count("SELECT count(*) FROM messaging.outbox WHERE correlation_id = $1 AND event_type = $2", order.String(), events.PaymentSucceeded); n != 1 {
		t.Fatalf("%d payment.succeeded events, want 1", n)
	}
}

func TestRefusesBadEvents(t *testing.T) {
	e := setup(t, "5s")
	order := uuid.New()
	wrongType := reserved(t, order, 100)
	wrongType.Type = events.OrderPlaced
	badPayload := reserved(t, order, 100)
	badPayload.Payload = json.RawMessage(`{"order_id":"` + order.String() + `"}`)
	cases := []struct {
		name string
		body any
		code string
	}{
		{"not JSON", fntest.Raw(`{"id":`), "invalid_event"},
		{"not an envelope", fntest.Raw(`{"hello":"world"}`), "invalid_event"},
		{"wrong event type", wrongType, "unexpected_event_type"},
		{"payload without lines", badPayload, "invalid_event"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", c.body).ExpectError(t, http.StatusBadRequest, c.code)
		})
	}
	t.Run("not the platform's service", func(t *testing.T) {
		ev := wrongType
		ev.Type = events.StockReserved
		fntest.Call(t, e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
		fntest.CallAs(t, fntest.Customer(uuid.New()), e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusForbidden, "forbidden")
	})
	if n := len(e.sim.Charges("")); n != 0 {
		t.Fatalf("bad events charged %d times", n)
	}
	if n := e.count("SELECT count(*) FROM messaging.inbox"); n != 0 {
		t.Fatalf("bad events recorded: %d", n)
	}
}

func TestWrongAPIKeyIsRetriedNotRecorded(t *testing.T) {
	e := setup(t, "5s")
	p, err := payments.NewHTTPProvider(payments.ProviderConfig{URL: e.url}, payments.ProviderSecrets{APIKey: "wrong"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.app = function.NewApp(e.db.Pool, p)
	order := uuid.New()
	ev := reserved(t, order, 100)
	fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusInternalServerError, "internal")
	e.nothingRecorded(order, ev)
}

// TestConcurrentOrdersDoNotStarveThePool: three times as many orders at once as the pool has
// connections are all charged, once each.
func TestConcurrentOrdersDoNotStarveThePool(t *testing.T) {
	e := setup(t, "5s")
	n := int(e.db.Pool.Config().MaxConns) * 3
	orders := make([]uuid.UUID, n)
	var wg sync.WaitGroup
	for i := range orders {
		orders[i] = uuid.New()
		ev := reserved(t, orders[i], 100+int64(i))
		wg.Go(func() {
			if resp := fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev); resp.Status != http.StatusOK {
				t.Errorf("status %d: %s", resp.Status, resp.Body)
			}
		})
	}
	wg.Wait()
	for _, o := range orders {
		e.expectOnce(t, o)
	}
}
