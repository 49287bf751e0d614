package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
)

// slowCatalog stands between create-order and the gateway: while slow is set, calls to
// get-product are held until release is closed; everything else passes straight through.
type slowCatalog struct {
	upstream atomic.Pointer[url.URL]
	slow     atomic.Bool
	held     atomic.Int64
	release  chan struct{}
	once     sync.Once
}

func (s *slowCatalog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.slow.Load() && strings.HasPrefix(r.URL.Path, "/function/get-product") {
		s.held.Add(1)
		<-s.release // slower than any deadline of create-order's: until the test lets go
	}
	httputil.NewSingleHostReverseProxy(s.upstream.Load()).ServeHTTP(w, r)
}

func (s *slowCatalog) let() { s.once.Do(func() { close(s.release) }) }

// Breaker settings for charge-payment in this test: 3 failed attempts open it, a probe after 2s,
// one good probe closes it.
var paymentGuard = map[string]string{
	"PAYMENT_PROVIDER_MAX_ATTEMPTS": "2", "PAYMENT_PROVIDER_BACKOFF_MAX": "50ms",
	"PAYMENT_PROVIDER_BREAKER_FAILURES": "3", "PAYMENT_PROVIDER_BREAKER_DELAY": "2s", "PAYMENT_PROVIDER_BREAKER_SUCCESSES": "1",
}

func TestResilience(t *testing.T) {
	slow := &slowCatalog{release: make(chan struct{})}
	proxy := httptest.NewServer(slow)
	t.Cleanup(proxy.Close)
	t.Cleanup(slow.let) // runs before proxy.Close: held calls end first
	p := platform.Start(t, platform.Options{
		FunctionEnv: map[string]map[string]string{
			"charge-payment": paymentGuard,
			// create-order reaches get-product through the slow proxy; its whole call may take
			// 1s, each attempt 300ms.
			"create-order": {"GATEWAY_URL": proxy.URL, "GATEWAY_TIMEOUT": "1s", "CATALOG_TIMEOUT": "300ms", "CATALOG_MAX_ATTEMPTS": "2"},
		},
		// The connector keeps retrying (every 200ms at most) instead of dead-lettering.
		Connector: map[string]string{"MAX_ATTEMPTS": "1000", "RETRY_BASE": "50ms", "RETRY_CAP": "200ms", "RETRY_AFTER_CAP": "200ms"},
	})
	gw, err := url.Parse(p.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	slow.upstream.Store(gw)
	s := newShop(t, p)

	t.Run("payment provider down", func(t *testing.T) { paymentProviderDown(t, p, s) })
	t.Run("catalog slower than create-order's deadline", func(t *testing.T) { slowCatalogTimesOut(t, p, s, slow) })
}

// With the payment provider down the breaker opens after the configured failures and further
// charges fail fast without reaching the provider; orders wait; once it is back the breaker
// closes and every order completes with exactly one charge.
func paymentProviderDown(t *testing.T, p *platform.Platform, s *shop) {
	mug := s.product(t, "MUG-R", 1500, 20)
	_, tok := s.customer(t, "breaker@example.com")
	setPaymentDown(t, p.PaymentURL, true)
	down := time.Now()

	const n = 4
	var ids []string
	for range n {
		ids = append(ids, s.place(t, tok, line(mug, 1)).ID)
	}
	state := func() (float64, error) {
		return p.FunctionMetric(t, "charge-payment", "resilience_breaker_state", "dependency", "payment-provider")
	}
	platform.Eventually(t, 30*time.Second, func() bool { v, err := state(); return err == nil && v == 2 },
		func() string { v, err := state(); return fmt.Sprintf("breaker state %v (%v), want 2 (open)", v, err) })
	opened := time.Since(down)
	atOpen := chargeRequests(t, p.PaymentURL)
	if atOpen < 3 {
		t.Fatalf("breaker open after %d calls to the provider, want at least BREAKER_FAILURES=3", atOpen)
	}

	// While it is open the connector keeps retrying, charge-payment answers 503 at once, and
	// the provider hears (almost) nothing: rejections outnumber calls.
	rejected := func() float64 {
		v, _ := p.FunctionMetric(t, "charge-payment", "resilience_calls_total", "dependency", "payment-provider", "outcome", "rejected")
		return v
	}
	r0 := rejected()
	retries0, err := platform.Metric(p.ConnectorMetrics, "connector_retries_total", "function", "charge-payment.openfaas-fn")
	if err != nil {
		t.Fatal(err)
	}
	platform.Eventually(t, 30*time.Second, func() bool { return rejected() >= r0+8 },
		func() string { return fmt.Sprintf("rejected calls %v, want %v", rejected(), r0+8) })
	retries1, err := platform.Metric(p.ConnectorMetrics, "connector_retries_total", "function", "charge-payment.openfaas-fn")
	if err != nil {
		t.Fatal(err)
	}
	during := chargeRequests(t, p.PaymentURL) - atOpen
	fastFails := rejected() - r0
	if retries1 <= retries0 {
		t.Errorf("connector retries of charge-payment did not grow (%v then %v)", retries0, retries1)
	}
	if float64(during) >= fastFails/2 {
		t.Errorf("%d calls reached the provider during %v fast failures: the breaker is not keeping them away", during, fastFails)
	}
	for id, o := range ordersStatus(t, p, ids) {
		if o != "PENDING" {
			t.Errorf("order %s is %s while the payment provider is down, want PENDING", id, o)
		}
	}
	if got := paymentRowCount(t, p, ids); got != 0 {
		t.Errorf("%d payments recorded while the provider is down", got)
	}

	setPaymentDown(t, p.PaymentURL, false)
	back := time.Now()
	platform.Eventually(t, 30*time.Second, func() bool { v, err := state(); return err == nil && v == 0 },
		func() string { v, err := state(); return fmt.Sprintf("breaker state %v (%v), want 0 (closed)", v, err) })
	closed := time.Since(back)
	for id, o := range s.settled(t, ids, 60*time.Second) {
		if o.Status != "COMPLETED" {
			t.Errorf("order %s ended %s (%s)", id, o.Status, o.CancelReason)
		}
	}
	completed := time.Since(back)
	if got := paymentRowCount(t, p, ids); got != n {
		t.Errorf("%d payment rows for %d orders", got, n)
	}
	for _, id := range ids {
		var cs struct {
			Charges []struct {
				Status string `json:"status"`
			} `json:"charges"`
		}
		getSimJSON(t, p.PaymentURL+"/v1/charges?order_ref="+id, &cs, "Authorization", "Bearer "+p.PaymentAPIKey)
		if len(cs.Charges) != 1 || cs.Charges[0].Status != "succeeded" {
			t.Errorf("order %s: provider charges %+v, want exactly one that succeeded", id, cs.Charges)
		}
	}
	t.Logf("breaker: open %v after the provider went down (%d provider calls); while open %d calls reached the provider against %v fast failures and %v connector retries; closed %v after the provider came back; all %d orders completed %v after it came back",
		opened.Round(time.Millisecond), atOpen, during, fastFails, retries1-retries0, closed.Round(time.Millisecond), n, completed.Round(time.Millisecond))
}

// With get-product slower than create-order's deadline, create-order answers 503
// dependency_unavailable while get-product's answer is still held, and places no order.
func slowCatalogTimesOut(t *testing.T, p *platform.Platform, s *shop, slow *slowCatalog) {
	mug := s.product(t, "MUG-S", 900, 5)
	customer, tok := s.customer(t, "patient@example.com")
	slow.slow.Store(true)
	start := time.Now()
	r := p.Call(t, http.MethodPost, "create-order", tok, map[string]any{"lines": []any{line(mug, 1)}})
	took := time.Since(start)
	select {
	case <-slow.release:
		t.Fatal("get-product was let go before create-order answered")
	default: // still held: create-order answered within its own deadline, not get-product's
	}
	if slow.held.Load() == 0 {
		t.Fatal("create-order never called get-product")
	}
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	r.Decode(t, &body)
	if r.Status != http.StatusServiceUnavailable || body.Error.Code != "dependency_unavailable" {
		t.Fatalf("create-order answered %d %s, want 503 dependency_unavailable", r.Status, r.Body)
	}
	var orders int
	if err := p.DB.Pool.QueryRow(t.Context(), "SELECT count(*) FROM orders.orders WHERE customer_id = $1", customer).Scan(&orders); err != nil {
		t.Fatal(err)
	}
	if orders != 0 {
		t.Errorf("%d orders placed by a request that failed", orders)
	}
	t.Logf("slow catalog: create-order answered %d %s after %v with %d get-product calls still held",
		r.Status, body.Error.Code, took.Round(time.Millisecond), slow.held.Load())
	slow.slow.Store(false)
	slow.let()
}

func setPaymentDown(t *testing.T, simURL string, down bool) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"down": down})
	req, err := http.NewRequest(http.MethodPut, simURL+"/admin/faults", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /admin/faults: %d", resp.StatusCode)
	}
}

// chargeRequests is how many charge requests reached the payment simulator.
func chargeRequests(t *testing.T, simURL string) int {
	t.Helper()
	var counts map[string]int
	getSimJSON(t, simURL+"/admin/requests", &counts)
	return counts["POST /v1/charges"]
}

// getSimJSON reads a simulator's JSON answer into v; headers are name, value pairs.
func getSimJSON(t *testing.T, u string, v any, headers ...string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", u, resp.StatusCode, err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
}

func ordersStatus(t *testing.T, p *platform.Platform, ids []string) map[string]string {
	t.Helper()
	rows, err := p.DB.Pool.Query(t.Context(), "SELECT id::text, status FROM orders.orders WHERE id = ANY($1::uuid[])", ids)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		out[id] = status
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func paymentRowCount(t *testing.T, p *platform.Platform, ids []string) int {
	t.Helper()
	var n int
	if err := p.DB.Pool.QueryRow(t.Context(), "SELECT count(*) FROM payments.payments WHERE order_id = ANY($1::uuid[])", ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
