package payments

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

func TestProviderAnswers(t *testing.T) {
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer key" || r.Header.Get("Idempotency-Key") != "order-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	p, err := NewHTTPProvider(ProviderConfig{URL: srv.URL + "/"}, ProviderSecrets{APIKey: "key"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := ChargeRequest{Amount: money.Money{Amount: 100, Currency: "EUR"}, CustomerRef: "c", OrderRef: "order-1", IdempotencyKey: "order-1"}
	cases := []struct {
		name        string
		status      int
		body        string
		want        ChargeResult
		unavailable bool
		fails       bool
	}{
		{"succeeded", 201, `{"id":"ch_1","status":"succeeded"}`, ChargeResult{ID: "ch_1"}, false, false},
		{"declined", 201, `{"id":"ch_2","status":"declined","decline_code":"card_declined"}`, ChargeResult{ID: "ch_2", Declined: true, DeclineCode: "card_declined"}, false, false},
		{"503", 503, `{}`, ChargeResult{}, true, true},
		{"429", 429, `{}`, ChargeResult{}, true, true},
		{"key reused", 422, `{}`, ChargeResult{}, false, true},
		{"no charge id", 201, `{"status":"succeeded"}`, ChargeResult{}, false, true},
		{"unknown status", 201, `{"id":"ch_3","status":"pending"}`, ChargeResult{}, false, true},
		{"not JSON", 201, `<html>`, ChargeResult{}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body = c.status, c.body
			got, err := p.Charge(context.Background(), req)
			if (err != nil) != c.fails || errors.Is(err, ErrProviderUnavailable) != c.unavailable || got != c.want {
				t.Fatalf("Charge: %+v, %v", got, err)
			}
		})
	}
	down, _ := NewHTTPProvider(ProviderConfig{URL: "http://127.0.0.1:1"}, ProviderSecrets{APIKey: "key"}, nil)
	if _, err := down.Charge(context.Background(), req); !errors.Is(err, ErrProviderUnavailable) {
		t.Fatalf("connection refused: %v", err)
	}
}

// The guarded client retries a failed charge with the same Idempotency-Key, opens its breaker
// after the configured failures and then answers ErrProviderUnavailable without calling.
func TestProviderGuarded(t *testing.T) {
	var calls atomic.Int64
	var down atomic.Bool
	keys := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		keys <- r.Header.Get("Idempotency-Key")
		if down.Load() || n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"ch_1","status":"succeeded"}`))
	}))
	t.Cleanup(srv.Close)
	s := resilience.Settings{Timeout: time.Second, MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		BreakerFailures: 3, BreakerDelay: time.Hour, BreakerSuccesses: 1}
	client := resilience.HTTPClient(ProviderDependency, s, nil, resilience.NewMetrics(prometheus.NewRegistry()))
	p, err := NewHTTPProvider(ProviderConfig{URL: srv.URL}, ProviderSecrets{APIKey: "key"}, client)
	if err != nil {
		t.Fatal(err)
	}
	req := ChargeRequest{Amount: money.Money{Amount: 100, Currency: "EUR"}, CustomerRef: "c", OrderRef: "order-1", IdempotencyKey: "order-1"}
	got, err := p.Charge(context.Background(), req)
	if err != nil || got.ID != "ch_1" || calls.Load() != 2 {
		t.Fatalf("first 503 then success: %+v, %v after %d calls", got, err, calls.Load())
	}
	if a, b := <-keys, <-keys; a != "order-1" || b != "order-1" {
		t.Fatalf("retry changed the idempotency key: %q, %q", a, b)
	}
	down.Store(true)
	if _, err := p.Charge(context.Background(), req); !errors.Is(err, ErrProviderUnavailable) {
		t.Fatalf("provider down: %v", err)
	}
	before := calls.Load()
	_, err = p.Charge(context.Background(), req)
	if !errors.Is(err, ErrProviderUnavailable) || !resilience.IsOpen(err) || calls.Load() != before {
		t.Fatalf("breaker open: %v, %d calls made", err, calls.Load()-before)
	}
}
