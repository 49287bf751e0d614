package function

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/gateway"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/orders"
	"github.com/faas-commerce/faas-commerce/shared/orders/ordertest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

// catalogGateway is a gateway that routes /function/get-product/ to get-product's handler on
// the test's database, so prices come the way they do in production.
func catalogGateway(t *testing.T, db *pgtest.DB) *httptest.Server {
	t.Helper()
	store := catalog.NewStore(db.Pool)
	getProduct := fn.New("get-product").Route("GET /{id}", func(w http.ResponseWriter, r *http.Request) error {
		id, err := fn.PathUUID(r, "id")
		if err != nil {
			return err
		}
		p, err := store.Get(r.Context(), id)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", fn.ETag(p.Version))
		fn.JSON(w, http.StatusOK, p)
		return nil
	})
	mux := http.NewServeMux()
	mux.Handle("/function/get-product/", http.StripPrefix("/function/get-product", getProduct))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func appAt(t *testing.T, db *pgtest.DB, gatewayURL string, timeout time.Duration) *fn.App {
	t.Helper()
	gw, err := gateway.New(gateway.Config{URL: gatewayURL, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return newApp(orders.NewStore(db.Pool), orders.NewCatalog(gw))
}

// TestCreateOrderBehindAnOpenBreaker: with the guarded client production uses, a catalog that
// keeps failing opens the breaker, and orders fail fast with 503 instead of waiting.
func TestCreateOrderBehindAnOpenBreaker(t *testing.T) {
	db := pgtest.New(t)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0]
	var hits atomic.Int64
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	s := resilience.Settings{Timeout: time.Second, MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond,
		BreakerFailures: 2, BreakerDelay: time.Minute, BreakerSuccesses: 1}
	gw, err := gateway.New(gateway.Config{URL: broken.URL, Timeout: 2 * time.Second}, resilience.HTTPClient("get-product", s, nil, resilience.ProcessMetrics()))
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(orders.NewStore(db.Pool), orders.NewCatalog(gw))
	in := body(line{"product_id": p.ID, "quantity": 1})
	fntest.CallContext(t, customer(uuid.New()), app, http.MethodPost, "/", in).ExpectError(t, http.StatusServiceUnavailable, "dependency_unavailable")
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
	fntest.CallContext(t, customer(uuid.New()), app, http.MethodPost, "/", in).ExpectError(t, http.StatusServiceUnavailable, "dependency_unavailable")
	if n := hits.Load(); n != 2 {
		t.Fatalf("the open breaker let %d more calls through", n-2)
	}
	if n := ordertest.Count(t, db.Pool); n != 0 {
		t.Fatalf("%d orders", n)
	}
}

func customer(id uuid.UUID) context.Context {
	return auth.WithPrincipal(context.Background(), auth.Principal{Subject: id.String(), Roles: []auth.Role{auth.RoleCustomer}})
}

type line = map[string]any

func body(lines ...line) map[string]any { return map[string]any{"lines": lines} }

func eur(n int64) money.Money { return money.Money{Amount: n, Currency: "EUR"} }

func TestCreateOrder(t *testing.T) {
	db := pgtest.New(t)
	app := appAt(t, db, catalogGateway(t, db).URL, 2*time.Second)
	ps := catalogtest.Create(t, db.Pool, 2, func(i int, p *catalog.NewProduct) {
		p.Price = &[]money.Money{eur(250), eur(1999)}[i]
	})
	me := uuid.New()

	resp := fntest.CallContext(t, customer(me), app, http.MethodPost, "/",
		body(line{"product_id": ps[0].ID, "quantity": 2}, line{"product_id": ps[1].ID, "quantity": 1})).Expect(t, http.StatusAccepted)
	var o orders.Order
	resp.Decode(t, &o)
	if o.CustomerID != me || o.Status != orders.Pending || o.Total != eur(2499) || len(o.Lines) != 2 || o.CancelReason != "" {
		t.Fatalf("order %+v", o)
	}
	if l := o.Lines[0]; l.ProductID != ps[0].ID || l.Quantity != 2 || l.UnitPrice != eur(250) || l.LineTotal != eur(500) {
		t.Fatalf("line %+v", l)
	}
	if got, want := resp.Header.Get("Location"), "/function/get-order/"+o.ID.String(); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	stored, err := orders.NewStore(db.Pool).Get(context.Background(), o.ID)
	if err != nil || fmt.Sprint(stored) != fmt.Sprint(o) {
		t.Fatalf("stored %+v, %v; answered %+v", stored, err, o)
	}

	out := ordertest.Outbox(t, db.Pool, events.OrderPlaced, o.ID)
	if len(out) != 1 {
		t.Fatalf("%d order.placed events", len(out))
	}
	var p events.OrderPlacedV1
	if err := out[0].Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.OrderID != o.ID || p.CustomerID != me || p.Total != eur(2499) || len(p.Lines) != 2 ||
		p.Lines[1] != (events.Line{ProductID: ps[1].ID, Quantity: 1, UnitPrice: eur(1999)}) {
		t.Fatalf("order.placed %+v", p)
	}
}

func TestCreateOrderNeedsACustomer(t *testing.T) {
	db := pgtest.New(t)
	app := appAt(t, db, catalogGateway(t, db).URL, 2*time.Second)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0]
	in := body(line{"product_id": p.ID, "quantity": 1})
	admin := auth.WithPrincipal(context.Background(), auth.Principal{Subject: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}})
	odd := auth.WithPrincipal(context.Background(), auth.Principal{Subject: "alice", Roles: []auth.Role{auth.RoleCustomer}})
	fntest.Call(t, app, http.MethodPost, "/", in).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
	fntest.CallContext(t, admin, app, http.MethodPost, "/", in).ExpectError(t, http.StatusForbidden, "forbidden")
	fntest.CallContext(t, odd, app, http.MethodPost, "/", in).ExpectError(t, http.StatusForbidden, "forbidden")
	// The customer is the token's subject; a body cannot name one.
	withCustomer := map[string]any{"customer_id": uuid.New(), "lines": []line{{"product_id": p.ID, "quantity": 1}}}
	fntest.CallContext(t, customer(uuid.New()), app, http.MethodPost, "/", withCustomer).ExpectError(t, http.StatusBadRequest, "unknown_field", "customer_id")
	if n := ordertest.Count(t, db.Pool); n != 0 {
		t.Fatalf("%d orders", n)
	}
}

func TestCreateOrderRefusesBadInput(t *testing.T) {
	db := pgtest.New(t)
	app := appAt(t, db, catalogGateway(t, db).URL, 2*time.Second)
	ps := catalogtest.Create(t, db.Pool, 5, func(i int, p *catalog.NewProduct) {
		if i == 4 {
			p.Price = &money.Money{Amount: 100, Currency: "USD"}
		}
	})
	a, b := ps[0].ID.String(), ps[1].ID.String()
	off := false
	if _, err := catalog.NewStore(db.Pool).Update(context.Background(), ps[2].ID, catalog.Patch{Active: &off}, nil); err != nil {
		t.Fatal(err)
	}
	if err := catalog.NewStore(db.Pool).Delete(context.Background(), ps[3].ID, nil); err != nil {
		t.Fatal(err)
	}
	many := make([]string, orders.MaxLines+1)
	for i := range many {
		many[i] = `{"product_id":"` + uuid.NewString() + `","quantity":1}`
	}
	ln := func(id, q string) string { return `{"product_id":"` + id + `","quantity":` + q + `}` }
	lines := func(ls ...string) string { return `{"lines":[` + strings.Join(ls, ",") + `]}` }
	cases := []struct {
		name   string
		body   string
		header []string
		status int
		code   string
		fields []string
	}{
		{"malformed JSON", `{"lines":[`, nil, 400, "malformed_json", nil},
		{"empty body", ``, nil, 400, "empty_body", nil},
		{"array body", `[]`, nil, 400, "wrong_type", []string{"(body)"}},
		{"quantity as text", lines(`{"product_id":"` + a + `","quantity":"2"}`), nil, 400, "wrong_type", []string{"lines.quantity"}},
		{"fractional quantity", lines(ln(a, "1.5")), nil, 400, "wrong_type", []string{"lines.quantity"}},
		{"product id as number", lines(`{"product_id":7,"quantity":1}`), nil, 400, "wrong_type", []string{"lines.product_id"}},
		{"lines not an array", `{"lines":{}}`, nil, 400, "wrong_type", []string{"lines"}},
		{"client price", lines(`{"product_id":"` + a + `","quantity":1,"unit_price":{"amount":1,"currency":"EUR"}}`), nil, 400, "unknown_field", []string{"unit_price"}},
		{"form content type", lines(ln(a, "1")), []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", nil},
		{"oversize body", `{"lines":[],"x":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "body_too_large", nil},
		{"bad idempotency key", lines(ln(a, "1")), []string{"Idempotency-Key", "k\x7f"}, 400, "invalid_idempotency_key", nil},
		{"no lines field", `{}`, nil, 422, "validation_failed", []string{"lines"}},
		{"empty lines", lines(), nil, 422, "validation_failed", []string{"lines"}},
		{"too many lines", lines(many...), nil, 422, "validation_failed", []string{"lines"}},
		{"zero quantity", lines(ln(a, "0")), nil, 422, "validation_failed", []string{"lines[0].quantity"}},
		{"negative quantity", lines(ln(a, "1"), ln(b, "-1")), nil, 422, "validation_failed", []string{"lines[1].quantity"}},
		{"quantity over 1000", lines(ln(a, "1001")), nil, 422, "validation_failed", []string{"lines[0].quantity"}},
		{"missing quantity", lines(`{"product_id":"` + a + `"}`), nil, 422, "validation_failed", []string{"lines[0].quantity"}},
		{"bad product id", lines(ln(a, "1"), ln("not-a-uuid", "1")), nil, 422, "validation_failed", []string{"lines[1].product_id"}},
		{"missing product id", lines(`{"quantity":1}`), nil, 422, "validation_failed", []string{"lines[0].product_id"}},
		{"duplicate product", lines(ln(a, "1"), ln(b, "1"), ln(a, "2")), nil, 422, "validation_failed", []string{"lines[2].product_id"}},
		{"unknown product", lines(ln(a, "1"), ln(uuid.NewString(), "1")), nil, 422, "validation_failed", []string{"lines[1].product_id"}},
		{"inactive product", lines(ln(ps[2].ID.String(), "1")), nil, 422, "validation_failed", []string{"lines[0].product_id"}},
		{"deleted product", lines(ln(a, "1"), ln(ps[3].ID.String(), "1")), nil, 422, "validation_failed", []string{"lines[1].product_id"}},
		{"two currencies", lines(ln(a, "1"), ln(ps[4].ID.String(), "1")), nil, 422, "validation_failed", []string{"lines[1].product_id"}},
	}
	ctx := customer(uuid.New())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallContext(t, ctx, app, http.MethodPost, "/", fntest.Raw(c.body), c.header...).ExpectError(t, c.status, c.code, c.fields...)
		})
	}
	if n, m := ordertest.Count(t, db.Pool), ordertest.OutboxCount(t, db.Pool); n != 0 || m != 0 {
		t.Fatalf("bad input left %d orders and %d events", n, m)
	}
	fntest.CallContext(t, ctx, app, http.MethodGet, "/", nil).ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestCreateOrderWhenCatalogIsUnavailable(t *testing.T) {
	db := pgtest.New(t)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0]
	in := body(line{"product_id": p.ID, "quantity": 1})
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream error", http.StatusBadGateway)
	}))
	defer broken.Close()
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hanging.Close()
	notDeployed := httptest.NewServer(http.NotFoundHandler()) // a gateway without get-product
	defer notDeployed.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	for name, url := range map[string]string{"5xx": broken.URL, "timeout": hanging.URL, "no get-product": notDeployed.URL, "gateway down": down.URL} {
		t.Run(name, func(t *testing.T) {
			app := appAt(t, db, url, 100*time.Millisecond)
			resp := fntest.CallContext(t, customer(uuid.New()), app, http.MethodPost, "/", in, "Idempotency-Key", "k")
			resp.ExpectError(t, http.StatusServiceUnavailable, "dependency_unavailable")
			if resp.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
	var keys int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM orders.idempotency_keys").Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if n, m := ordertest.Count(t, db.Pool), ordertest.OutboxCount(t, db.Pool); n+m+keys != 0 {
		t.Fatalf("a failed order left %d orders, %d events, %d keys", n, m, keys)
	}
}

func TestCreateOrderRetries(t *testing.T) {
	db := pgtest.New(t)
	gw := catalogGateway(t, db)
	app := appAt(t, db, gw.URL, 2*time.Second)
	ps := catalogtest.Create(t, db.Pool, 2, nil)
	in := body(line{"product_id": ps[0].ID, "quantity": 3})
	alice, bob := uuid.New(), uuid.New()

	var first, again orders.Order
	fntest.CallContext(t, customer(alice), app, http.MethodPost, "/", in, "Idempotency-Key", "k1").Expect(t, http.StatusAccepted).Decode(t, &first)
	resp := fntest.CallContext(t, customer(alice), app, http.MethodPost, "/", in, "Idempotency-Key", "k1").Expect(t, http.StatusAccepted)
	resp.Decode(t, &again)
	if again.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay %+v, first %+v", again, first)
	}
	other := body(line{"product_id": ps[1].ID, "quantity": 3})
	fntest.CallContext(t, customer(alice), app, http.MethodPost, "/", other, "Idempotency-Key", "k1").ExpectError(t, http.StatusUnprocessableEntity, "idempotency_key_reused")

	// Keys are per customer: Bob's k1 is his own order.
	var bobs orders.Order
	fntest.CallContext(t, customer(bob), app, http.MethodPost, "/", in, "Idempotency-Key", "k1").Expect(t, http.StatusAccepted).Decode(t, &bobs)
	if bobs.ID == first.ID || bobs.CustomerID != bob {
		t.Fatalf("bob's order %+v", bobs)
	}

	// A replay needs no catalog: it answers while get-product is away and after a price change.
	price := eur(1)
	if _, err := catalog.NewStore(db.Pool).Update(context.Background(), ps[0].ID, catalog.Patch{Price: &price}, nil); err != nil {
		t.Fatal(err)
	}
	gw.Close()
	fntest.CallContext(t, customer(alice), app, http.MethodPost, "/", in, "Idempotency-Key", "k1").Expect(t, http.StatusAccepted).Decode(t, &again)
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("replay without catalog %+v, first %+v", again, first)
	}
	if n := ordertest.Count(t, db.Pool); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
	if n := len(ordertest.Outbox(t, db.Pool, events.OrderPlaced, first.ID)); n != 1 {
		t.Fatalf("%d order.placed events for one order", n)
	}
}

func TestCreateOrderConcurrentRetriesMakeOneOrder(t *testing.T) {
	db := pgtest.New(t)
	app := appAt(t, db, catalogGateway(t, db).URL, 5*time.Second)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0]
	in := body(line{"product_id": p.ID, "quantity": 1})
	ctx := customer(uuid.New())
	ids := make(chan uuid.UUID, 12)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			resp := fntest.CallContext(t, ctx, app, http.MethodPost, "/", in, "Idempotency-Key", "same")
			if resp.Status != http.StatusAccepted {
				t.Errorf("status %d: %s", resp.Status, resp.Body)
				return
			}
			var o orders.Order
			resp.Decode(t, &o)
			ids <- o.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[uuid.UUID]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 || ordertest.Count(t, db.Pool) != 1 || ordertest.OutboxCount(t, db.Pool) != 1 {
		t.Fatalf("12 concurrent retries made %d distinct orders, %d rows, %d events", len(seen), ordertest.Count(t, db.Pool), ordertest.OutboxCount(t, db.Pool))
	}
}
