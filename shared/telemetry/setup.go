package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/exporters/zipkin"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Config chooses where spans go. The names are OpenTelemetry's standard environment variables;
// the batch processor also reads OTEL_BSP_* itself.
type Config struct {
	// Exporter is none, zipkin, otlp (OTLP over HTTP) or stdout.
	Exporter string `env:"OTEL_TRACES_EXPORTER, default=none"`
	// ZipkinEndpoint is the Zipkin collector's span endpoint.
	ZipkinEndpoint string `env:"OTEL_EXPORTER_ZIPKIN_ENDPOINT, default=http://127.0.0.1:9411/api/v2/spans"`
	// OTLPEndpoint is the OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces.
	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, default=http://127.0.0.1:4318/v1/traces"`
	// SampleRatio is the fraction of new traces recorded (a child follows its parent).
	SampleRatio float64 `env:"OTEL_TRACES_SAMPLER_ARG, default=1"`
	// ServiceName overrides the program's name in spans.
	ServiceName string `env:"OTEL_SERVICE_NAME"`
}

// Setup installs the tracer provider and the W3C propagator for the process and returns a
// function that flushes and stops them (call it on shutdown). With Exporter "none" spans are
// not recorded, but trace context still passes through unchanged.
func Setup(ctx context.Context, service string, cfg Config) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(Propagator)
	if cfg.ServiceName != "" {
		service = cfg.ServiceName
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch cfg.Exporter {
	case "", "none":
		return func(context.Context) error { return nil }, nil
	case "zipkin":
		exp, err = zipkin.New(cfg.ZipkinEndpoint)
	case "otlp":
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.OTLPEndpoint))
	case "stdout":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: want none, zipkin, otlp or stdout", cfg.Exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("%s exporter: %w", cfg.Exporter, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	otel.SetTracerProvider(tp)
	return func(ctx context.Context) error {
		return errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx))
	}, nil
}

// Tracer is the platform's tracer, from whichever provider Setup installed.
func Tracer() trace.Tracer { return otel.Tracer("github.com/faas-commerce/faas-commerce") }
