package payments

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/money"
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
	p, err := NewHTTPProvider(ProviderConfig{URL: srv.URL + "/", Timeout: time.Second}, ProviderSecrets{APIKey: "key"}, nil)
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
	down, _ := NewHTTPProvider(ProviderConfig{URL: "http://127.0.0.1:1", Timeout: time.Second}, ProviderSecrets{APIKey: "key"}, nil)
	if _, err := down.Charge(context.Background(), req); !errors.Is(err, ErrProviderUnavailable) {
		t.Fatalf("connection refused: %v", err)
	}
}
