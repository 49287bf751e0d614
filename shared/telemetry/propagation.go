// Package telemetry is the platform's OpenTelemetry plumbing. Trace context travels as W3C
// traceparent/tracestate plus baggage: in HTTP headers, in AMQP headers and in each event's
// envelope (and so through the outbox), so one order is one trace across every hop.
package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the one propagator every program uses: W3C trace context and baggage.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// FromHeaders returns ctx with the trace context carried by h, when it carries one.
func FromHeaders(ctx context.Context, h http.Header) context.Context {
	return Propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// ToHeaders writes ctx's trace context into h.
func ToHeaders(ctx context.Context, h http.Header) {
	Propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// FromMap returns ctx with the trace context carried by m (an event's trace_context).
func FromMap(ctx context.Context, m map[string]string) context.Context {
	if len(m) == 0 {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier(m))
}

// ToMap returns ctx's trace context as a map for an event's trace_context, nil when there is
// none.
func ToMap(ctx context.Context) map[string]string {
	m := propagation.MapCarrier{}
	Propagator.Inject(ctx, m)
	if len(m) == 0 {
		return nil
	}
	return m
}

// HasTrace reports whether ctx carries a valid span context.
func HasTrace(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}
