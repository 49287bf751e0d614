package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/go-sdk/stack"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/auth/authtest"
)

// Rate limit of the provider in these tests: a client may send 60 calls at once, then 20 a second.
const (
	authRate  = 20
	authBurst = 60
)

// stackAuth reads stack.yml: which functions are public, and which topics each queue function consumes.
func stackAuth(t *testing.T) (public map[string]bool, topics map[string][]string) {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	s, err := stack.ParseYAMLFile(filepath.Join(root, "stack.yml"), "", "", true)
	if err != nil {
		t.Fatal(err)
	}
	public, topics = map[string]bool{}, map[string][]string{}
	for name, f := range s.Functions {
		if v, err := strconv.ParseBool(f.Environment["AUTH_PUBLIC"]); err == nil && v {
			public[name] = true
		}
		if f.Annotations != nil && (*f.Annotations)["topic"] != "" {
			topics[name] = strings.Split((*f.Annotations)["topic"], ",")
		}
	}
	return public, topics
}

// authWorld is the state the auth tests share: one platform with the provider's gate and
// rate limit on, products, customers with orders, and recorded events.
type authWorld struct {
	*shop
	kit       *authtest.Kit
	mug       product
	spare     []product // one to delete per run of the matrix
	customers []authCustomer
	envelopes map[string][]byte // event type -> one envelope the platform published
}

type authCustomer struct {
	id, token, email, order string
}

func TestAuth(t *testing.T) {
	start := time.Now()
	public, topics := stackAuth(t)
	p := platform.Start(t, platform.Options{
		ProviderGate: true,
		Provider:     map[string]string{"PROVIDER_RATE_LIMIT": strconv.Itoa(authRate), "PROVIDER_RATE_BURST": strconv.Itoa(authBurst)},
		Labels:       map[string]string{"com.openfaas.scale.min": "0"}, // so that a function can be put at zero
	})
	t.Logf("platform up in %s", time.Since(start).Round(time.Millisecond))
	w := newAuthWorld(t, p, topics)
	t.Logf("state ready in %s", time.Since(start).Round(time.Millisecond))

	var protected []string
	for _, name := range p.Functions {
		if !public[name] {
			protected = append(protected, name)
		}
	}
	// create-order last: the orders it places wake the queue functions
	sort.Slice(protected, func(i, j int) bool {
		if (protected[i] == "create-order") != (protected[j] == "create-order") {
			return protected[j] == "create-order"
		}
		return protected[i] < protected[j]
	})

	t.Run("matrix through the provider gate, at zero replicas", func(t *testing.T) { w.matrixThroughGate(t, protected) })
	t.Run("matrix against each function process", func(t *testing.T) { w.matrixDirect(t, protected) })
	t.Run("customers see and change only themselves", w.customersAreIsolated)
	t.Run("a customer token is refused by admin and queue functions", w.customerIsForbidden)
	t.Run("injected fields never reach the database", w.injectedFieldsAreRefused)
	t.Run("bursts beyond the limit get 429", w.burstsAreLimited)
	t.Run("sign-in answers a wrong password as an unknown e-mail", w.signInAnswersAlike)
	t.Logf("TestAuth took %s", time.Since(start).Round(time.Millisecond))
}

func newAuthWorld(t *testing.T, p *platform.Platform, topics map[string][]string) *authWorld {
	w := &authWorld{shop: newShop(t, p), kit: p.AuthKit(t), envelopes: map[string][]byte{}}
	w.mug = w.product(t, "AUTH-MUG", 1500, 1000)
	none := w.product(t, "AUTH-NONE", 900, 0)
	w.spare = []product{w.product(t, "AUTH-SPARE-1", 100, 0), w.product(t, "AUTH-SPARE-2", 100, 0)}
	var ids []string
	for i := range 4 {
		id, tok := w.customer(t, fmt.Sprintf("auth-%d@example.com", i))
		c := authCustomer{id: id, token: tok, email: fmt.Sprintf("auth-%d@example.com", i)}
		c.order = w.place(t, tok, line(w.mug, 1)).ID
		ids = append(ids, c.order)
		w.customers = append(w.customers, c)
	}
	// an order the stock cannot serve: stock.rejected, order.cancelled
	ids = append(ids, w.place(t, w.customers[0].token, line(none, 1)).ID)
	got := w.settled(t, ids, 60*time.Second)
	if got[ids[0]].Status != "COMPLETED" || got[ids[len(ids)-1]].Status != "CANCELLED" {
		t.Fatalf("orders did not settle as expected: %+v", got)
	}

	// wait until every event has reached every consumer of its type (the inbox says so), so
	// nothing wakes a function later on its own
	var fns, types []string
	for fn, ts := range topics {
		for _, ty := range ts {
			fns, types = append(fns, fn), append(types, ty)
		}
	}
	var pending int
	platform.Eventually(t, 60*time.Second, func() bool {
		err := p.DB.Pool.QueryRow(t.Context(), `
			SELECT count(*) FROM messaging.outbox o
			WHERE o.published_at IS NULL OR EXISTS (
				SELECT 1 FROM unnest($1::text[], $2::text[]) AS s(fn, topic)
				WHERE s.topic = o.event_type AND NOT EXISTS (
					SELECT 1 FROM messaging.inbox i WHERE i.consumer = s.fn AND i.event_id = o.event_id))`,
			fns, types).Scan(&pending)
		return err == nil && pending == 0
	}, func() string { return fmt.Sprintf("%d events not yet handled by every consumer", pending) })

	rows, err := p.DB.Pool.Query(t.Context(), "SELECT DISTINCT ON (event_type) event_type, envelope::text FROM messaging.outbox ORDER BY event_type, seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ty, env string
		if err := rows.Scan(&ty, &env); err != nil {
			t.Fatal(err)
		}
		w.envelopes[ty] = []byte(env)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return w
}

// probe is a request a function answers with 2xx for the right caller.
type probe struct {
	subject string
	roles   []auth.Role
	// req is the request inside the function (path from its root); run is 0 for the gate's
	// matrix and 1 for the process's own.
	req func(t *testing.T, run int) platform.Request
}

func (w *authWorld) version(t *testing.T, table, id string) int64 {
	t.Helper()
	var v int64
	if err := w.p.DB.Pool.QueryRow(t.Context(), "SELECT version FROM "+table+" WHERE id = $1", id).Scan(&v); err != nil {
		t.Fatalf("version of %s %s: %v", table, id, err)
	}
	return v
}

func (w *authWorld) probes(t *testing.T) map[string]probe {
	admin, customer, service := []auth.Role{auth.RoleAdmin}, []auth.Role{auth.RoleCustomer}, []auth.Role{auth.RoleService}
	c := w.customers[0]
	event := func(ty string) func(*testing.T, int) platform.Request {
		env, ok := w.envelopes[ty]
		if !ok {
			t.Fatalf("no %s event was published", ty)
		}
		// a redelivery of an event already handled: 200, duplicate, nothing changes
		return func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodPost, Path: "/", Body: env}
		}
	}
	return map[string]probe{
		"create-product": {"e2e-admin", admin, func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodPost, Path: "/", Body: map[string]any{
				"sku": "AUTH-NEW-" + strconv.FormatUint(rand.Uint64(), 36), "name": "New", "price": map[string]any{"amount": 100, "currency": "EUR"}}}
		}},
		"update-product": {"e2e-admin", admin, func(t *testing.T, _ int) platform.Request {
			return platform.Request{Method: http.MethodPatch, Path: "/" + w.mug.ID, Body: map[string]any{"name": "Blue mug", "version": w.version(t, "catalog.products", w.mug.ID)}}
		}},
		"delete-product": {"e2e-admin", admin, func(_ *testing.T, run int) platform.Request {
			return platform.Request{Method: http.MethodDelete, Path: "/" + w.spare[run].ID}
		}},
		"restock": {"e2e-admin", admin, func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodPost, Path: "/" + w.mug.ID, Body: map[string]any{"quantity": 1}}
		}},
		"get-stock": {"e2e-admin", admin, func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodGet, Path: "/" + w.mug.ID}
		}},
		"get-customer": {c.id, customer, func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodGet, Path: "/" + c.id}
		}},
		"update-customer": {c.id, customer, func(t *testing.T, _ int) platform.Request {
			return platform.Request{Method: http.MethodPatch, Path: "/" + c.id, Body: map[string]any{"name": "Ada", "version": w.version(t, "customers.customers", c.id)}}
		}},
		"create-order": {c.id, customer, func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodPost, Path: "/", Body: map[string]any{"lines": []any{line(w.mug, 1)}}}
		}},
		"get-order": {c.id, customer, func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodGet, Path: "/" + c.order}
		}},
		"list-orders": {c.id, customer, func(*testing.T, int) platform.Request {
			return platform.Request{Method: http.MethodGet, Path: "/"}
		}},
		"adjust-stock":      {"e2e-service", service, event("order.placed")},
		"release-stock":     {"e2e-service", service, event("order.cancelled")},
		"charge-payment":    {"e2e-service", service, event("stock.reserved")},
		"complete-order":    {"e2e-service", service, event("payment.succeeded")},
		"cancel-order":      {"e2e-service", service, event("stock.rejected")},
		"send-notification": {"e2e-service", service, event("order.completed")},
	}
}

// matrixThroughGate: with every protected function at zero replicas, each attack gets 401
// from the provider and no process starts; then a valid token wakes the function once and
// gets 2xx. Each function's attacks come from their own address, as separate attackers would.
func (w *authWorld) matrixThroughGate(t *testing.T, protected []string) {
	probes := w.probes(t)
	w.p.ScaleToZero(t, protected...)
	for i, name := range protected {
		pr, ok := probes[name]
		if !ok {
			t.Errorf("%s is protected but has no probe here: add one", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			source := fmt.Sprintf("127.0.1.%d", i+1)
			req := func(authorization, query string) platform.Response {
				r := pr.req(t, 0)
				r.Path, r.Authorization, r.Query, r.Source = name+r.Path, authorization, query, source
				return w.p.Do(t, r)
			}
			cold := w.p.ColdStarts(t, name)
			for _, a := range w.kit.Attacks(t, pr.subject, pr.roles...) {
				r := req(a.Authorization, a.Query)
				if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: %d (WWW-Authenticate %q), want 401 with a Bearer challenge: %s", a.Name, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
				}
			}
			if st := w.p.Status(t, name); len(st.Instances) != 0 || w.p.ColdStarts(t, name) != cold {
				t.Fatalf("refused calls woke %s: %d processes, cold starts %v -> %v", name, len(st.Instances), cold, w.p.ColdStarts(t, name))
			}
			r := req(w.kit.Bearer(t, pr.subject, pr.roles...), "")
			if r.Status/100 != 2 {
				t.Fatalf("valid token: %d %s", r.Status, r.Body)
			}
			if n := w.p.ColdStarts(t, name); n != cold+1 {
				t.Errorf("cold starts %v -> %v after a valid call, want one", cold, n)
			}
		})
	}
}

// matrixDirect runs the matrix against each function's process itself, past the provider:
// every function checks tokens on its own too.
func (w *authWorld) matrixDirect(t *testing.T, protected []string) {
	probes := w.probes(t)
	for _, name := range protected {
		pr, ok := probes[name]
		if !ok {
			continue // reported by the gate's matrix
		}
		t.Run(name, func(t *testing.T) {
			var st platform.FunctionStatus
			platform.Eventually(t, 30*time.Second, func() bool {
				st = w.p.Status(t, name)
				return len(st.Instances) > 0 && st.Instances[0].Ready
			}, func() string { return name + " has no ready process" })
			base := "http://" + st.Instances[0].Address
			w.kit.RunMatrix(t, func(t *testing.T, authorization, query string) int {
				r := pr.req(t, 1)
				r.Base, r.Authorization, r.Query = base, authorization, query
				resp := w.p.Do(t, r)
				if resp.Status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge")
				}
				return resp.Status
			}, pr.subject, pr.roles...)
		})
	}
}

type customerRecord struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

func (w *authWorld) customerRow(t *testing.T, id string) customerRecord {
	t.Helper()
	var c customerRecord
	if err := w.p.DB.Pool.QueryRow(t.Context(), "SELECT id::text, name, version FROM customers.customers WHERE id = $1", id).Scan(&c.ID, &c.Name, &c.Version); err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *authWorld) customersAreIsolated(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("pairs drawn with seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, seed))
	for range 6 {
		i := rnd.IntN(len(w.customers))
		j := (i + 1 + rnd.IntN(len(w.customers)-1)) % len(w.customers)
		a, b := w.customers[i], w.customers[j]
		t.Run(fmt.Sprintf("%d reads and changes %d", i, j), func(t *testing.T) {
			before := w.customerRow(t, b.id)
			if r := w.p.Call(t, http.MethodGet, "get-customer/"+b.id, a.token, nil); r.Status != http.StatusNotFound {
				t.Errorf("get-customer of another: %d %s, want 404", r.Status, r.Body)
			}
			if r := w.p.Call(t, http.MethodPatch, "update-customer/"+b.id, a.token, map[string]any{"name": "Mallory", "version": before.Version}); r.Status != http.StatusNotFound {
				t.Errorf("update-customer of another: %d %s, want 404", r.Status, r.Body)
			}
			if r := w.p.Call(t, http.MethodPatch, "update-customer/"+b.id, a.token, map[string]any{"name": "Mallory"}, "If-Match", `"`+strconv.FormatInt(before.Version, 10)+`"`); r.Status != http.StatusNotFound {
				t.Errorf("update-customer of another with If-Match: %d %s, want 404", r.Status, r.Body)
			}
			if after := w.customerRow(t, b.id); after != before {
				t.Errorf("another customer changed the record: %+v -> %+v", before, after)
			}
			if r := w.p.Call(t, http.MethodGet, "get-order/"+b.order, a.token, nil); r.Status != http.StatusNotFound {
				t.Errorf("get-order of another's order: %d %s, want 404", r.Status, r.Body)
			}
			r := w.p.Call(t, http.MethodGet, "list-orders?limit=100", a.token, nil)
			var page struct {
				Items []order `json:"items"`
			}
			r.Decode(t, &page)
			if r.Status != http.StatusOK || !slices.ContainsFunc(page.Items, func(o order) bool { return o.ID == a.order }) {
				t.Errorf("list-orders: %d, own order %s missing: %s", r.Status, a.order, r.Body)
			}
			for _, o := range page.Items {
				if o.CustomerID != a.id {
					t.Errorf("list-orders shows order %s of customer %s", o.ID, o.CustomerID)
				}
			}
			if r := w.p.Call(t, http.MethodGet, "list-orders?customer_id="+b.id, a.token, nil); r.Status != http.StatusForbidden {
				t.Errorf("list-orders of another customer: %d %s, want 403", r.Status, r.Body)
			}
			// and their own, for contrast
			if r := w.p.Call(t, http.MethodGet, "get-order/"+a.order, a.token, nil); r.Status != http.StatusOK {
				t.Errorf("own order: %d %s", r.Status, r.Body)
			}
		})
	}
}

func (w *authWorld) customerIsForbidden(t *testing.T) {
	c := w.customers[1]
	stock := func() int {
		var n int
		if err := w.p.DB.Pool.QueryRow(t.Context(), "SELECT on_hand FROM inventory.stock WHERE product_id = $1", w.mug.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	products := func() string {
		var s string
		if err := w.p.DB.Pool.QueryRow(t.Context(), "SELECT count(*)::text || '/' || coalesce(sum(version), 0)::text || '/' || count(*) FILTER (WHERE active) FROM catalog.products").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	stockBefore, productsBefore := stock(), products()
	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"create-product", http.MethodPost, "create-product", map[string]any{"sku": "AUTH-EVIL", "name": "Evil", "price": map[string]any{"amount": 1, "currency": "EUR"}}},
		{"update-product", http.MethodPatch, "update-product/" + w.mug.ID, map[string]any{"price": map[string]any{"amount": 1, "currency": "EUR"}, "version": w.version(t, "catalog.products", w.mug.ID)}},
		{"delete-product", http.MethodDelete, "delete-product/" + w.mug.ID, nil},
		{"restock", http.MethodPost, "restock/" + w.mug.ID, map[string]any{"quantity": 1000}},
		{"get-stock", http.MethodGet, "get-stock/" + w.mug.ID, nil},
		{"adjust-stock (queue)", http.MethodPost, "adjust-stock", json.RawMessage(w.envelopes["order.placed"])},
		{"release-stock (queue)", http.MethodPost, "release-stock", json.RawMessage(w.envelopes["order.cancelled"])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := w.p.Call(t, tc.method, tc.path, c.token, tc.body); r.Status != http.StatusForbidden {
				t.Errorf("%d %s, want 403", r.Status, r.Body)
			}
		})
	}
	if s, p := stock(), products(); s != stockBefore || p != productsBefore {
		t.Errorf("a customer changed the catalog or stock: stock %d -> %d, products %s -> %s", stockBefore, s, productsBefore, p)
	}
}

func (w *authWorld) injectedFieldsAreRefused(t *testing.T) {
	a, b := w.customers[2], w.customers[3]
	count := func() (all, ofB int) {
		if err := w.p.DB.Pool.QueryRow(t.Context(), "SELECT count(*), count(*) FILTER (WHERE customer_id = $1) FROM orders.orders", b.id).Scan(&all, &ofB); err != nil {
			t.Fatal(err)
		}
		return all, ofB
	}
	allBefore, ofBBefore := count()
	good := line(w.mug, 1)
	for name, body := range map[string]any{
		"customer_id":   map[string]any{"lines": []any{good}, "customer_id": b.id},
		"status":        map[string]any{"lines": []any{good}, "status": "COMPLETED"},
		"line price":    map[string]any{"lines": []any{map[string]any{"product_id": w.mug.ID, "quantity": 1, "unit_price": map[string]any{"amount": 1, "currency": "EUR"}}}},
		"total":         map[string]any{"lines": []any{good}, "total": map[string]any{"amount": 1, "currency": "EUR"}},
		"id":            map[string]any{"lines": []any{good}, "id": b.order},
		"nested status": map[string]any{"lines": []any{map[string]any{"product_id": w.mug.ID, "quantity": 1, "status": "COMPLETED"}}},
	} {
		t.Run("create-order with "+name, func(t *testing.T) {
			if r := w.p.Call(t, http.MethodPost, "create-order", a.token, body); r.Status != http.StatusBadRequest {
				t.Errorf("%d %s, want 400", r.Status, r.Body)
			}
		})
	}
	if all, ofB := count(); all != allBefore || ofB != ofBBefore {
		t.Errorf("orders %d -> %d (of the other customer %d -> %d): an injected request was stored", allBefore, all, ofBBefore, ofB)
	}
	t.Run("the price comes from the catalog", func(t *testing.T) {
		var o struct {
			Total struct{ Amount int64 } `json:"total"`
			Lines []struct {
				UnitPrice struct{ Amount int64 } `json:"unit_price"`
			} `json:"lines"`
		}
		w.p.Call(t, http.MethodGet, "get-order/"+a.order, a.token, nil).Decode(t, &o)
		if o.Total.Amount != w.mug.Price.Amount || len(o.Lines) != 1 || o.Lines[0].UnitPrice.Amount != w.mug.Price.Amount {
			t.Errorf("order priced %+v, want the catalog's %d", o, w.mug.Price.Amount)
		}
	})

	t.Run("update-customer: id and version games", func(t *testing.T) {
		patch := func(body any, headers ...string) platform.Response {
			return w.p.Call(t, http.MethodPatch, "update-customer/"+a.id, a.token, body, headers...)
		}
		// one fair update first, so that there is a stale version to try
		if r := patch(map[string]any{"name": "Grace", "version": w.customerRow(t, a.id).Version}); r.Status != http.StatusOK {
			t.Fatalf("a fair update: %d %s", r.Status, r.Body)
		}
		before, other := w.customerRow(t, a.id), w.customerRow(t, b.id)
		for _, tc := range []struct {
			name   string
			body   any
			header []string
			want   int
		}{
			{"another id in the body", map[string]any{"id": b.id, "name": "Mallory", "version": before.Version}, nil, http.StatusBadRequest},
			{"a version of its own choosing", map[string]any{"name": "Mallory", "version": before.Version + 10}, nil, http.StatusConflict},
			{"a stale version", map[string]any{"name": "Mallory", "version": before.Version - 1}, nil, http.StatusConflict},
			{"a version as text", map[string]any{"name": "Mallory", "version": strconv.FormatInt(before.Version, 10)}, nil, http.StatusBadRequest},
			{"no version", map[string]any{"name": "Mallory"}, nil, http.StatusPreconditionRequired},
			{"a stale If-Match", map[string]any{"name": "Mallory"}, []string{"If-Match", `"` + strconv.FormatInt(before.Version-1, 10) + `"`}, http.StatusPreconditionFailed},
			{"created_at", map[string]any{"name": "Mallory", "version": before.Version, "created_at": "2000-01-01T00:00:00Z"}, nil, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if r := patch(tc.body, tc.header...); r.Status != tc.want {
					t.Errorf("%d %s, want %d", r.Status, r.Body, tc.want)
				}
			})
		}
		if now := w.customerRow(t, a.id); now != before {
			t.Errorf("refused updates changed the record: %+v -> %+v", before, now)
		}
		if now := w.customerRow(t, b.id); now != other {
			t.Errorf("the other customer's record changed: %+v -> %+v", other, now)
		}
		r := patch(map[string]any{"name": "Grace Hopper", "version": before.Version})
		var got customerRecord
		r.Decode(t, &got)
		if r.Status != http.StatusOK || got.ID != a.id || got.Name != "Grace Hopper" || got.Version != before.Version+1 {
			t.Errorf("a fair update: %d %s", r.Status, r.Body)
		}
	})
}

// untilLimited sends requests until one gets 429. The first burst must pass; the 429 must
// come before more than burst + rate x elapsed (+1) requests, however slow the machine.
func untilLimited(t *testing.T, send func() platform.Response) platform.Response {
	t.Helper()
	start := time.Now()
	for n := 1; ; n++ {
		r := send()
		if r.Status == http.StatusTooManyRequests {
			if n <= authBurst {
				t.Fatalf("429 at request %d, within the burst of %d", n, authBurst)
			}
			if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
			}
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Code == "" {
				t.Errorf("429 is not a JSON error: %s", r.Body)
			}
			t.Logf("429 at request %d (%s)", n, r.Body)
			return r
		}
		if r.Status/100 != 2 {
			t.Fatalf("request %d: %d %s", n, r.Status, r.Body)
		}
		if allowed := authBurst + authRate*time.Since(start).Seconds() + 1; float64(n) > allowed {
			t.Fatalf("%d requests passed, at most %.0f may", n, allowed)
		}
	}
}

// stillLimited checks that a caller whose bucket is empty is refused again at once: before a
// 429, at most what refilled meanwhile (rate x elapsed, +1) gets want.
func stillLimited(t *testing.T, want int, send func() platform.Response) {
	t.Helper()
	start := time.Now()
	for n := 0; ; n++ {
		r := send()
		if r.Status == http.StatusTooManyRequests {
			return
		}
		if r.Status != want {
			t.Fatalf("%d %s, want 429 (or %d for a refilled token)", r.Status, r.Body, want)
		}
		if allowed := authRate*time.Since(start).Seconds() + 1; float64(n+1) > allowed {
			t.Fatalf("%d requests passed, at most %.0f may", n+1, allowed)
		}
	}
}

func (w *authWorld) burstsAreLimited(t *testing.T) {
	t.Run("a client with a token, per client", func(t *testing.T) {
		tok := w.kit.Bearer(t, "burst-admin", auth.RoleAdmin)
		r := untilLimited(t, func() platform.Response {
			return w.p.Do(t, platform.Request{Method: http.MethodGet, Path: "get-stock/" + w.mug.ID, Authorization: tok, Source: "127.0.2.1"})
		})
		if !strings.Contains(string(r.Body), `"rate_limited"`) {
			t.Errorf("429 body %s", r.Body)
		}
		// the same client with a new token from another address is the same client
		again := w.kit.Bearer(t, "burst-admin", auth.RoleAdmin)
		stillLimited(t, http.StatusOK, func() platform.Response {
			return w.p.Do(t, platform.Request{Method: http.MethodGet, Path: "get-stock/" + w.mug.ID, Authorization: again, Source: "127.0.2.9"})
		})
		// another client is not
		if r := w.p.Do(t, platform.Request{Method: http.MethodGet, Path: "get-stock/" + w.mug.ID, Authorization: w.kit.Bearer(t, "calm-admin", auth.RoleAdmin), Source: "127.0.2.1"}); r.Status != http.StatusOK {
			t.Errorf("another client: %d, want 200", r.Status)
		}
	})
	t.Run("callers without a token, per address", func(t *testing.T) {
		untilLimited(t, func() platform.Response {
			return w.p.Do(t, platform.Request{Method: http.MethodGet, Path: "list-products", Source: "127.0.2.2"})
		})
		// a protected function from that address without a token: 429 before the 401
		stillLimited(t, http.StatusUnauthorized, func() platform.Response {
			return w.p.Do(t, platform.Request{Method: http.MethodGet, Path: "get-order/" + w.customers[0].order, Source: "127.0.2.2"})
		})
	})
	t.Run("sign-in failures, per e-mail", func(t *testing.T) {
		id, _ := w.customer(t, "burst@example.com")
		signIn := func(password string) platform.Response {
			return w.p.Do(t, platform.Request{Method: http.MethodPost, Path: "issue-token/sign-in", Source: "127.0.2.3",
				Body: map[string]any{"email": "burst@example.com", "password": password}})
		}
		for i := range 5 {
			if r := signIn("guess number " + strconv.Itoa(i)); r.Status != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
			}
		}
		r := signIn("correct horse battery staple")
		if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), "too_many_attempts") || r.Header.Get("Retry-After") == "" {
			t.Fatalf("after 5 guesses even the right password: %d %s (Retry-After %q), want 429", r.Status, r.Body, r.Header.Get("Retry-After"))
		}
		_ = id
	})
}

// signInAnswersAlike: a wrong password and an unknown e-mail get byte-identical answers. The
// times are printed, not asserted: that both paths do the same hash work (one argon2id
// comparison with the same parameters) is what shared/identity's TestSignIn checks.
func (w *authWorld) signInAnswersAlike(t *testing.T) {
	const n = 8
	signIn := func(email, password string) (platform.Response, time.Duration) {
		start := time.Now()
		r := w.p.Do(t, platform.Request{Method: http.MethodPost, Path: "issue-token/sign-in", Source: "127.0.2.4",
			Body: map[string]any{"email": email, "password": password}})
		return r, time.Since(start)
	}
	var wrong, unknown []time.Duration
	var first platform.Response
	for i := range n {
		c := w.customers[i%len(w.customers)]
		r1, d1 := signIn(c.email, "not the password "+strconv.Itoa(i))
		r2, d2 := signIn(fmt.Sprintf("nobody-%d-%d@example.com", i, rand.Uint32()), "not the password "+strconv.Itoa(i))
		wrong, unknown = append(wrong, d1), append(unknown, d2)
		if i == 0 {
			first = r1
		}
		for _, r := range []platform.Response{r1, r2} {
			if r.Status != http.StatusUnauthorized || !bytes.Equal(r.Body, first.Body) || r.Header.Get("Content-Type") != first.Header.Get("Content-Type") {
				t.Errorf("answers differ: %d %s vs %d %s", r.Status, r.Body, first.Status, first.Body)
			}
		}
	}
	median := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	t.Logf("sign-in over the platform, %d each: wrong password median %s, unknown e-mail median %s (printed, not asserted)", n, median(wrong), median(unknown))
}
