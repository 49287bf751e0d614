package simhttp

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/sethvargo/go-envconfig"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Tracing installs the simulator's span exporter from the OTEL_* environment (none unless
// OTEL_TRACES_EXPORTER says otherwise) and returns the function that flushes it.
func Tracing(ctx context.Context, service string, l envconfig.Lookuper) (func(context.Context) error, error) {
	var cfg telemetry.Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: l}); err != nil {
		return nil, err
	}
	return telemetry.Setup(ctx, service, cfg)
}

// Observe wraps a simulator's API: every request but /healthz and /admin/* is a server span
// ("<method> <path>", a child of the caller's traceparent) and is counted by method and path.
// GET /admin/requests answers the counts, so a test can tell how many calls reached the
// simulator (for example, none while a client's circuit breaker is open).
func Observe(h http.Handler) http.Handler {
	var (
		mu     sync.Mutex
		counts = map[string]int{}
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/admin/requests" && r.Method == http.MethodGet:
			mu.Lock()
			out := make(map[string]int, len(counts))
			for k, v := range counts {
				out[k] = v
			}
			mu.Unlock()
			JSON(w, http.StatusOK, out)
			return
		case r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/admin/"):
			h.ServeHTTP(w, r)
			return
		}
		name := r.Method + " " + r.URL.Path
		mu.Lock()
		counts[name]++
		mu.Unlock()
		ctx := telemetry.FromHeaders(r.Context(), r.Header)
		ctx, span := telemetry.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
