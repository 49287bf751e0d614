package simhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Observe counts API requests (not health or admin ones) and makes each a server span joined to
// the caller's trace.
func TestObserve(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	mux := http.NewServeMux()
	NewFaults(0, 0).Register(mux)
	mux.HandleFunc("POST /v1/charges", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	srv := httptest.NewServer(Observe(mux))
	t.Cleanup(srv.Close)

	ctx, caller := telemetry.Tracer().Start(context.Background(), "caller")
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/charges", nil)
		telemetry.ToHeaders(ctx, req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	caller.End()
	if resp, err := http.Get(srv.URL + "/healthz"); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/admin/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var counts map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts["POST /v1/charges"] != 2 {
		t.Fatalf("counts %v, want 2 charges only", counts)
	}
	spans := rec.Ended()
	if len(spans) != 3 || spans[0].Name() != "POST /v1/charges" || spans[0].Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Fatalf("spans %v", spans)
	}
}
