package rabbitmq

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// The function is invoked with the traceparent of the invocation's client span, which is the
// child of the delivery's consumer span, which continues the message's trace context.
func TestInvokeCarriesTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	inv, err := NewInvoker(srv.URL, nil, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pctx, publish := telemetry.Tracer().Start(context.Background(), "publish order.placed")
	publish.End()
	headers := amqp.Table{}
	for k, v := range telemetry.ToMap(pctx) {
		headers[k] = v
	}
	d := amqp.Delivery{Headers: headers, MessageId: "e1", RoutingKey: "order.placed", Body: []byte(`{}`)}
	ctx, process := broker.StartProcess(context.Background(), d, "q", Topic(d))
	if r := inv.Invoke(ctx, Function{Name: "adjust-stock", Concurrency: 1}, d, "call-1", 1); r.verdict() != ack {
		t.Fatalf("invoke: %+v", r)
	}
	process.End()
	h := <-got
	sent := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
	spans := rec.Ended() // publish, invoke, process
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	invoke, proc := spans[1], spans[2]
	switch {
	case invoke.Name() != "invoke adjust-stock" || invoke.SpanKind() != trace.SpanKindClient:
		t.Errorf("invocation span %q %v", invoke.Name(), invoke.SpanKind())
	case invoke.Parent().SpanID() != proc.SpanContext().SpanID() || proc.Parent().SpanID() != publish.SpanContext().SpanID():
		t.Error("spans not parented publish > process > invoke")
	case sent.SpanID() != invoke.SpanContext().SpanID() || sent.TraceID() != publish.SpanContext().TraceID():
		t.Errorf("function got traceparent %q, want the invocation span's", h.Get("traceparent"))
	}
}
