package provider

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// proxySpan starts the gateway's span for proxying one call to function name: a child of the
// caller's traceparent (a root when there is none), whose own context is written into header,
// the request the function receives, so the function's span is its child. End it with the
// status the caller got.
func proxySpan(r *http.Request, name string, header http.Header) (context.Context, func(code int)) {
	ctx := telemetry.FromHeaders(r.Context(), r.Header)
	ctx, span := telemetry.Tracer().Start(ctx, "proxy "+name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.FaaSInvokedName(name), semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.URLPath(r.URL.Path), semconv.FaaSInvocationID(header.Get("X-Call-Id"))))
	telemetry.ToHeaders(ctx, header)
	return ctx, func(code int) {
		span.SetAttributes(semconv.HTTPResponseStatusCode(code))
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
		span.End()
	}
}
