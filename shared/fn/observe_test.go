package fn_test

import (
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// TestServerSpanJoinsTheCallersTrace checks that a request carrying traceparent is served in a
// span of the same trace, named after the function and its route.
func TestServerSpanJoinsTheCallersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	app := testApp()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	fntest.Call(t, app, http.MethodGet, "/things/7", nil, "traceparent", parent).Expect(t, http.StatusOK)
	fntest.Call(t, app, http.MethodGet, "/nowhere", nil).Expect(t, http.StatusNotFound)

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	s := spans[0]
	if s.Name() != "test GET /things/{id}" {
		t.Errorf("span name %q", s.Name())
	}
	if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span not in the caller's trace: trace %s parent %s", s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	if !strings.HasSuffix(spans[1].Name(), "unmatched") {
		t.Errorf("unrouted request span %q", spans[1].Name())
	}
	if telemetry.ToMap(t.Context()) != nil {
		t.Error("an empty context produced trace context")
	}
}
