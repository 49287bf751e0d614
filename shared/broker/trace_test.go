package broker

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// A publish span is the child of the event's stored trace context and hands its own context on
// in the AMQP headers; the consumer's span is the publish span's child.
func TestPublishAndProcessSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	ctx, origin := telemetry.Tracer().Start(context.Background(), "create-order")
	envelope := []byte(`{"id":"e1","type":"order.placed","correlation_id":"o1","trace_context":` +
		`{"traceparent":"` + telemetry.ToMap(ctx)["traceparent"] + `"}}`)
	origin.End()
	m, err := EnvelopeMessage("faas-commerce.events", envelope)
	if err != nil {
		t.Fatal(err)
	}
	pub := StartPublish(context.Background(), &m)
	EndPublish(pub, nil)
	_, proc := StartProcess(context.Background(), amqp.Delivery{Headers: m.Headers, MessageId: "e1"}, "q", "order.placed")
	proc.End()

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	o, p, c := spans[0], spans[1], spans[2]
	if p.Name() != "publish order.placed" || p.SpanKind() != trace.SpanKindProducer || p.Parent().SpanID() != o.SpanContext().SpanID() {
		t.Errorf("publish span %q kind %v parent %v, want the child of %v", p.Name(), p.SpanKind(), p.Parent().SpanID(), o.SpanContext().SpanID())
	}
	if c.Name() != "process order.placed" || c.SpanKind() != trace.SpanKindConsumer || c.Parent().SpanID() != p.SpanContext().SpanID() {
		t.Errorf("process span %q kind %v parent %v, want the child of %v", c.Name(), c.SpanKind(), c.Parent().SpanID(), p.SpanContext().SpanID())
	}
	if c.SpanContext().TraceID() != o.SpanContext().TraceID() {
		t.Error("the consumer's span is in another trace")
	}
	attrs := map[string]string{}
	for _, a := range p.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	for k, v := range map[string]string{"messaging.system": "rabbitmq", "messaging.destination.name": "faas-commerce.events",
		"messaging.rabbitmq.destination.routing_key": "order.placed", "messaging.message.id": "e1"} {
		if attrs[k] != v {
			t.Errorf("publish span %s = %q, want %q", k, attrs[k], v)
		}
	}
}
