package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/gateway"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

func TestGetJSON(t *testing.T) {
	var gotTrace string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTrace = r.Header.Get("traceparent")
		switch r.URL.Path {
		case "/function/f/ok":
			fn.JSON(w, 200, map[string]int{"n": 7})
		case "/function/f/gone":
			fn.JSON(w, 404, fn.ErrorBody{Error: fn.ErrorInfo{Code: "thing_not_found"}})
		case "/function/f/slow":
			<-r.Context().Done()
		default:
			http.Error(w, "boom", 500)
		}
	}))
	defer srv.Close()
	c, err := gateway.New(gateway.Config{URL: srv.URL + "/", Timeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := telemetry.FromMap(context.Background(), map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})

	var v struct{ N int }
	if err := c.GetJSON(ctx, "f", "ok", &v); err != nil || v.N != 7 {
		t.Fatalf("%+v, %v", v, err)
	}
	if gotTrace == "" {
		t.Error("trace context not sent")
	}
	var se *gateway.StatusError
	if err := c.GetJSON(ctx, "f", "gone", &v); !errors.As(err, &se) || se.Status != 404 || se.Code != "thing_not_found" {
		t.Fatalf("404: %v", err)
	}
	for _, path := range []string{"broken", "slow"} {
		if err := c.GetJSON(ctx, "f", path, &v); !errors.Is(err, gateway.ErrUnavailable) {
			t.Fatalf("%s: %v", path, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.GetJSON(cancelled, "f", "ok", &v); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	srv.Close()
	if err := c.GetJSON(ctx, "f", "ok", &v); !errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("gateway down: %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, cfg := range []gateway.Config{{URL: "ftp://x", Timeout: time.Second}, {URL: "http://", Timeout: time.Second}, {URL: "http://x", Timeout: 0}} {
		if _, err := gateway.New(cfg, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
