// Package fn is the platform side of every function: it adapts the golang-http handler
// signature, func Handle(handler.Request) (handler.Response, error), to routing by method and
// path inside the function, strict JSON decoding, JSON error bodies, a request body limit, call
// ids and structured logs. Authentication, tracing and metrics plug in as middleware.
package fn

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/logs"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// DefaultBodyLimit is the largest request body a function reads unless told otherwise.
const DefaultBodyLimit = 1 << 20

// HeaderCallID carries the id of one invocation, set by the gateway and echoed back.
const HeaderCallID = "X-Call-Id"

// HeaderTraceID carries the id of the trace the call belongs to, in every answer.
const HeaderTraceID = "X-Trace-Id"

// HandlerFunc serves one route. It writes a success response itself and returns an error for
// everything else; the App maps that error to a status and a JSON body once.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Middleware wraps the whole function: authentication, tracing and metrics plug in here.
type Middleware func(http.Handler) http.Handler

// App is one function: its routes, limits and middleware.
type App struct {
	name      string
	mux       *http.ServeMux
	bodyLimit int64
	mw        []Middleware
	closers   []func()
	handler   http.Handler
}

// Option configures an App.
type Option func(*App)

// WithBodyLimit sets the largest accepted request body in bytes.
func WithBodyLimit(n int64) Option { return func(a *App) { a.bodyLimit = n } }

// WithMiddleware adds middleware, outermost first.
func WithMiddleware(mw ...Middleware) Option { return func(a *App) { a.mw = append(a.mw, mw...) } }

// New returns an App named after the function it serves.
func New(name string, opts ...Option) *App {
	a := &App{name: name, mux: http.NewServeMux(), bodyLimit: DefaultBodyLimit}
	for _, o := range opts {
		o(a)
	}
	a.chain()
	return a
}

// Use adds middleware after construction, outside any added before; deps uses
// it to put the platform's middleware (token checks, metrics) around an App a function built.
func (a *App) Use(mw ...Middleware) *App {
	a.mw = slices.Concat(mw, a.mw)
	a.chain()
	return a
}

func (a *App) chain() {
	var h http.Handler = http.HandlerFunc(a.dispatch)
	for i := len(a.mw) - 1; i >= 0; i-- {
		h = a.mw[i](h)
	}
	a.handler = a.edge(h)
}

// Name is the function's name.
func (a *App) Name() string { return a.name }

// Route registers h for a net/http ServeMux pattern such as "GET /{id}" or "POST /{$}".
func (a *App) Route(pattern string, h HandlerFunc) *App {
	a.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRoute(r.Context(), pattern)
		if err := h(w, r); err != nil {
			WriteError(w, r, err)
		}
	}))
	return a
}

// OnClose registers a function run when the process shuts down (closing pools and the like).
func (a *App) OnClose(f func()) { a.closers = append(a.closers, f) }

// Close runs the registered closers in reverse order.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// ServeHTTP lets the App run under any net/http server (the template's main, tests).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Handle serves one request in the golang-http template's shape. The request path comes from
// the context (see WithPath); the error result is always nil because failures are responses.
func (a *App) Handle(req handler.Request) (handler.Response, error) {
	ctx := req.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	u := &url.URL{Path: PathFrom(ctx), RawQuery: req.QueryString}
	r, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		r = httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		WriteError(rec, r, errMalformedRequest.Wrap(err))
		return toResponse(rec), nil
	}
	if req.Header != nil {
		r.Header = req.Header.Clone()
	}
	r.Host = req.Host
	r.ContentLength = int64(len(req.Body))
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, r)
	return toResponse(rec), nil
}

func toResponse(rec *httptest.ResponseRecorder) handler.Response {
	return handler.Response{StatusCode: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

var (
	errMalformedRequest = fault.New(fault.Malformed, "malformed_request", "the request could not be read")
	errNoRoute          = fault.New(fault.NotFound, "not_found", "no such resource")
	errMethod           = fault.New(fault.MethodNotAllowed, "method_not_allowed", "method not allowed here")
	errTooLarge         = fault.New(fault.TooLarge, "body_too_large", "request body is too large")
	errPanic            = fault.New(fault.Internal, "internal", "internal error")
)

// edge is the outermost layer: trace context and server span, call id, log context, panic
// recovery, body limit, RED metrics and the access log.
func (a *App) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m := metrics()
		callID := r.Header.Get(HeaderCallID)
		if callID == "" || len(callID) > 128 {
			callID = uuid.NewString()
			r.Header.Set(HeaderCallID, callID)
		}
		w.Header().Set(HeaderCallID, callID)
		ctx := telemetry.FromHeaders(r.Context(), r.Header)
		ctx, span := telemetry.Tracer().Start(ctx, a.name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.FaaSInvocationID(callID)))
		if sc := span.SpanContext(); sc.IsValid() {
			// The caller can find the call's trace (in Zipkin, Jaeger, the trace sink) by this id.
			w.Header().Set(HeaderTraceID, sc.TraceID().String())
		}
		ctx, rt := withRoute(ctx)
		ctx = logs.WithAttrs(ctx, slog.String("call_id", callID), slog.String("function", a.name))
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		m.inFlight.WithLabelValues(a.name).Inc()
		defer func() {
			if p := recover(); p != nil {
				slog.ErrorContext(ctx, "handler panicked", "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					WriteError(sw, r, errPanic)
				}
			}
			code := sw.code()
			elapsed := time.Since(start)
			m.inFlight.WithLabelValues(a.name).Dec()
			m.requests.WithLabelValues(a.name, rt.pattern, codeLabel(code)).Inc()
			m.duration.WithLabelValues(a.name, rt.pattern).Observe(elapsed.Seconds())
			span.SetName(a.name + " " + rt.pattern)
			span.SetAttributes(semconv.HTTPRoute(rt.pattern), semconv.HTTPResponseStatusCode(code))
			if code >= 500 {
				span.SetStatus(codes.Error, http.StatusText(code))
			}
			span.End()
			slog.InfoContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "route", rt.pattern,
				"status", code, "duration_ms", float64(elapsed.Microseconds())/1000)
		}()
		if r.ContentLength > a.bodyLimit {
			WriteError(sw, r, errTooLarge.Withf("request body is over the limit of %d bytes", a.bodyLimit))
			return
		}
		r.Body = http.MaxBytesReader(sw, r.Body, a.bodyLimit)
		next.ServeHTTP(sw, r)
	})
}

// dispatch routes to the registered handlers, answering unknown paths and methods with JSON.
func (a *App) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	if pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	probe := httptest.NewRecorder()
	h.ServeHTTP(probe, r)
	if probe.Code == http.StatusMethodNotAllowed {
		if allow := probe.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		WriteError(w, r, errMethod.Withf("method %s is not allowed here", r.Method))
		return
	}
	WriteError(w, r, errNoRoute)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ETag formats a version number as a strong entity tag.
func ETag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }
