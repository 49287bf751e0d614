package broker

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// StartPublish starts the producer span of publishing m ("publish <routing key>", with the
// messaging semantic conventions) as a child of the trace context m's headers carry (an event's
// own, from its envelope in the outbox), and puts the span's context in m's headers in its
// place, so the consumer's span is the publish span's child. End it with EndPublish once the
// broker's verdict is in. ctx's span is the parent only when m carries no trace context.
func StartPublish(ctx context.Context, m *Message) trace.Span {
	if parent := TraceHeaders(m.Headers); parent != nil {
		ctx = telemetry.FromMap(ctx, parent)
	}
	ctx, span := telemetry.Tracer().Start(ctx, "publish "+m.RoutingKey, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingSystemRabbitMQ,
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("publish"),
			semconv.MessagingDestinationName(m.Exchange),
			semconv.MessagingRabbitMQDestinationRoutingKey(m.RoutingKey),
			semconv.MessagingMessageID(m.MessageID),
			semconv.MessagingMessageConversationID(m.CorrelationID),
			semconv.MessagingMessageBodySize(len(m.Body)),
		))
	if tc := telemetry.ToMap(ctx); tc != nil {
		if m.Headers == nil {
			m.Headers = amqp.Table{}
		}
		for _, k := range traceKeys {
			delete(m.Headers, k)
			if v := tc[k]; v != "" {
				m.Headers[k] = v
			}
		}
	}
	return span
}

// EndPublish ends a span from StartPublish with the publish's result.
func EndPublish(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	span.End()
}

// StartProcess starts the consumer span of handling delivery d from queue ("process <topic>",
// with the messaging semantic conventions) as a child of the trace context in d's headers (the
// publish span's). The returned context carries it, so what the handling calls joins the trace.
func StartProcess(ctx context.Context, d amqp.Delivery, queue, topic string) (context.Context, trace.Span) {
	if parent := TraceHeaders(d.Headers); parent != nil {
		ctx = telemetry.FromMap(ctx, parent)
	}
	return telemetry.Tracer().Start(ctx, "process "+topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemRabbitMQ,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(queue),
			semconv.MessagingRabbitMQDestinationRoutingKey(topic),
			semconv.MessagingMessageID(d.MessageId),
			semconv.MessagingMessageConversationID(d.CorrelationId),
			semconv.MessagingMessageBodySize(len(d.Body)),
			semconv.MessagingRabbitMQMessageDeliveryTag(int(d.DeliveryTag)),
		))
}
