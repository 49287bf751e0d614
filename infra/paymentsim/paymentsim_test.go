package paymentsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/paymentsim"
)

func TestDecide(t *testing.T) {
	cfg := paymentsim.Config{DeclineOver: 10000, DeclineSuffix: "13", DeclineCustomers: []string{"blocked"}}
	cases := []struct {
		name string
		req  paymentsim.ChargeRequest
		want string
	}{
		{"ordinary", paymentsim.ChargeRequest{Amount: 500, CustomerRef: "c"}, ""},
		{"at the limit", paymentsim.ChargeRequest{Amount: 10000, CustomerRef: "c"}, ""},
		{"over the limit", paymentsim.ChargeRequest{Amount: 10001, CustomerRef: "c"}, paymentsim.DeclineLimit},
		{"ending in the suffix", paymentsim.ChargeRequest{Amount: 1013, CustomerRef: "c"}, paymentsim.DeclineCard},
		{"suffix alone", paymentsim.ChargeRequest{Amount: 13, CustomerRef: "c"}, paymentsim.DeclineCard},
		{"suffix elsewhere", paymentsim.ChargeRequest{Amount: 1310, CustomerRef: "c"}, ""},
		{"listed customer", paymentsim.ChargeRequest{Amount: 1, CustomerRef: "blocked"}, paymentsim.DeclineCustomer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := cfg.Decide(c.req); got != c.want {
				t.Fatalf("Decide(%+v) = %q, want %q", c.req, got, c.want)
			}
		})
	}
	if got := (paymentsim.Config{}).Decide(paymentsim.ChargeRequest{Amount: 1 << 40}); got != "" {
		t.Fatalf("no rules declined with %q", got)
	}
}

func TestLoadConfig(t *testing.T) {
	ctx := context.Background()
	cfg, err := paymentsim.LoadConfig(ctx, envconfig.MapLookuper(map[string]string{
		"PAYMENTSIM_DECLINE_OVER": "500", "PAYMENTSIM_DECLINE_CUSTOMERS": "a,b", "PAYMENTSIM_LATENCY": "20ms",
	}))
	if err != nil || cfg.DeclineOver != 500 || len(cfg.DeclineCustomers) != 2 || cfg.Addr != "127.0.0.1:8091" {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	for name, env := range map[string]map[string]string{
		"failure rate over 1": {"PAYMENTSIM_FAILURE_RATE": "1.5"},
		"negative limit":      {"PAYMENTSIM_DECLINE_OVER": "-1"},
		"suffix not digits":   {"PAYMENTSIM_DECLINE_SUFFIX": "x1"},
		"bad latency":         {"PAYMENTSIM_LATENCY": "soon"},
		"missing key file":    {"PAYMENTSIM_API_KEY_FILE": t.TempDir() + "/none"},
	} {
		if _, err := paymentsim.LoadConfig(ctx, envconfig.MapLookuper(env)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

type client struct {
	t   *testing.T
	url string
	key string
}

func (c client) do(method, path, idemKey string, body any) (int, []byte, http.Header) {
	c.t.Helper()
	var rd *bytes.Reader
	if b, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(b))
	} else {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, buf.Bytes(), resp.Header
}

func (c client) charge(key string, r paymentsim.ChargeRequest) (int, paymentsim.Charge) {
	c.t.Helper()
	status, body, _ := c.do(http.MethodPost, "/v1/charges", key, r)
	var ch paymentsim.Charge
	if status == http.StatusCreated {
		if err := json.Unmarshal(body, &ch); err != nil {
			c.t.Fatal(err)
		}
	}
	return status, ch
}

func (c client) list(orderRef string) []paymentsim.Charge {
	c.t.Helper()
	status, body, _ := c.do(http.MethodGet, "/v1/charges?order_ref="+orderRef, "", nil)
	var l paymentsim.ChargeList
	if status != http.StatusOK || json.Unmarshal(body, &l) != nil {
		c.t.Fatalf("list: %d %s", status, body)
	}
	return l.Charges
}

func start(t *testing.T, cfg paymentsim.Config) (client, *paymentsim.Server) {
	s := paymentsim.Handler(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return client{t: t, url: srv.URL, key: cfg.APIKey}, s
}

func TestChargesAreIdempotent(t *testing.T) {
	c, _ := start(t, paymentsim.Config{DeclineSuffix: "13", APIKey: "secret"})
	req := paymentsim.ChargeRequest{Amount: 1999, Currency: "EUR", CustomerRef: "cust-1", OrderRef: "order-1"}

	status, first := c.charge("order-1", req)
	if status != http.StatusCreated || first.Status != paymentsim.Succeeded || first.ID == "" {
		t.Fatalf("first charge: %d %+v", status, first)
	}
	status, again := c.charge("order-1", req)
	if status != http.StatusCreated || again != first {
		t.Fatalf("same key again: %d %+v, first %+v", status, again, first)
	}
	other := req
	other.Amount = 2000
	if status, _ := c.charge("order-1", other); status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other amount: %d, want 422", status)
	}
	if got := c.list("order-1"); len(got) != 1 || got[0] != first {
		t.Fatalf("charges for order-1: %+v", got)
	}

	declined := paymentsim.ChargeRequest{Amount: 1013, Currency: "EUR", CustomerRef: "cust-1", OrderRef: "order-2"}
	if status, ch := c.charge("order-2", declined); status != http.StatusCreated || ch.Status != paymentsim.Declined || ch.DeclineCode != paymentsim.DeclineCard {
		t.Fatalf("declined charge: %d %+v", status, ch)
	}
	if got := c.list(""); len(got) != 2 {
		t.Fatalf("%d charges in all, want 2", len(got))
	}
}

func TestChargeRefusals(t *testing.T) {
	c, _ := start(t, paymentsim.Config{APIKey: "secret"})
	valid := paymentsim.ChargeRequest{Amount: 1, Currency: "EUR", CustomerRef: "c", OrderRef: "o"}
	cases := []struct {
		name   string
		key    string
		apiKey string
		body   any
		want   int
	}{
		{"no idempotency key", "", "secret", valid, http.StatusBadRequest},
		{"wrong API key", "k1", "wrong", valid, http.StatusUnauthorized},
		{"no API key", "k1", "", valid, http.StatusUnauthorized},
		{"malformed", "k1", "secret", `{"amount":`, http.StatusBadRequest},
		{"unknown field", "k1", "secret", `{"amount":1,"currency":"EUR","customer_ref":"c","order_ref":"o","card":"4242"}`, http.StatusBadRequest},
		{"negative amount", "k1", "secret", paymentsim.ChargeRequest{Amount: -1, Currency: "EUR", CustomerRef: "c", OrderRef: "o"}, http.StatusUnprocessableEntity},
		{"bad currency", "k1", "secret", paymentsim.ChargeRequest{Amount: 1, Currency: "eur", CustomerRef: "c", OrderRef: "o"}, http.StatusUnprocessableEntity},
		{"no order ref", "k1", "secret", paymentsim.ChargeRequest{Amount: 1, Currency: "EUR", CustomerRef: "c"}, http.StatusUnprocessableEntity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc := c
			cc.t, cc.key = t, tc.apiKey
			if status, body, _ := cc.do(http.MethodPost, "/v1/charges", tc.key, tc.body); status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
		})
	}
	if got := c.list(""); len(got) != 0 {
		t.Fatalf("refused requests charged: %+v", got)
	}
}

func TestDownAndFailureRate(t *testing.T) {
	c, s := start(t, paymentsim.Config{})
	req := paymentsim.ChargeRequest{Amount: 1, Currency: "EUR", CustomerRef: "c", OrderRef: "o"}

	if status, body, _ := c.do(http.MethodPut, "/admin/faults", "", `{"down":true,"latency":"0s","failure_rate":0}`); status != http.StatusOK {
		t.Fatalf("admin: %d %s", status, body)
	}
	if status, _ := c.charge("o", req); status != http.StatusServiceUnavailable {
		t.Fatalf("down: %d, want 503", status)
	}
	if status, body, _ := c.do(http.MethodGet, "/healthz", "", nil); status != http.StatusOK {
		t.Fatalf("healthz while down: %d %s", status, body)
	}
	s.Faults().SetDown(false)
	if status, ch := c.charge("o", req); status != http.StatusCreated || ch.Status != paymentsim.Succeeded {
		t.Fatalf("up again: %d %+v", status, ch)
	}

	flaky, _ := start(t, paymentsim.Config{FailureRate: 1})
	if status, _ := flaky.charge("o", req); status != http.StatusServiceUnavailable {
		t.Fatalf("failure rate 1: %d, want 503", status)
	}
	if got := flaky.list(""); len(got) != 0 {
		t.Fatalf("a 503 charged: %+v", got)
	}
	if status, _, _ := c.do(http.MethodPut, "/admin/faults", "", `{"failure_rate":2}`); status != http.StatusUnprocessableEntity {
		t.Fatalf("bad admin request: %d, want 422", status)
	}
}

// TestSlowAnswerStillCharges: a client that gives up waiting has been charged; its retry with
// the same key gets that charge, not a second one.
func TestSlowAnswerStillCharges(t *testing.T) {
	c, s := start(t, paymentsim.Config{})
	st := s.Faults().State()
	st.Latency = 1 << 62 // never answers in time
	s.Faults().Set(st)
	req := paymentsim.ChargeRequest{Amount: 700, Currency: "EUR", CustomerRef: "c", OrderRef: "slow"}
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/v1/charges", bytes.NewReader(b))
	hr.Header.Set("Idempotency-Key", "slow")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(hr)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Charges("slow")) == 0 { // the charge is recorded before the answer is delayed
		select {
		case err := <-done:
			t.Fatalf("answered before charging: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no charge recorded within 10s")
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("slow request answered")
	}
	st.Latency = 0
	s.Faults().Set(st)
	status, ch := c.charge("slow", req)
	if got := c.list("slow"); status != http.StatusCreated || len(got) != 1 || got[0] != ch {
		t.Fatalf("retry: %d %+v; charges %+v", status, ch, got)
	}
}
