// Package resilience guards every synchronous call a function makes (to another function
// through the gateway, to the payment provider, to SMTP and the SMS provider) with a timeout per
// attempt, bounded retries with exponential backoff and jitter (only where the call is
// idempotent), and a circuit breaker with half-open probing. Breaker state and call outcomes
// are Prometheus metrics. Built on github.com/failsafe-go/failsafe-go.
package resilience

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Settings configure the guard of one dependency. Embed them in a function's config with a
// prefix, e.g. `env:", prefix=PAYMENT_PROVIDER_"` gives PAYMENT_PROVIDER_TIMEOUT and so on.
type Settings struct {
	// Timeout bounds one attempt; the caller's context bounds them all.
	Timeout time.Duration `env:"TIMEOUT, default=2s"`
	// MaxAttempts is the number of tries of an idempotent call (1 = no retry).
	MaxAttempts int `env:"MAX_ATTEMPTS, default=3"`
	// BackoffBase is the first retry's delay; it doubles up to BackoffMax, with jitter.
	BackoffBase time.Duration `env:"BACKOFF_BASE, default=50ms"`
	// BackoffMax caps a retry's delay.
	BackoffMax time.Duration `env:"BACKOFF_MAX, default=1s"`
	// BreakerFailures is how many consecutive failed attempts open the breaker.
	BreakerFailures uint `env:"BREAKER_FAILURES, default=5"`
	// BreakerDelay is how long the breaker stays open before letting a probe through.
	BreakerDelay time.Duration `env:"BREAKER_DELAY, default=5s"`
	// BreakerSuccesses is how many successful probes close it again.
	BreakerSuccesses uint `env:"BREAKER_SUCCESSES, default=2"`
}

// ErrOpen is returned without calling the dependency while its breaker is open.
var ErrOpen = circuitbreaker.ErrOpen

// IsOpen reports whether err is a fast failure from an open breaker.
func IsOpen(err error) bool { return errors.Is(err, circuitbreaker.ErrOpen) }

// Metrics are the guards' Prometheus collectors; one set per process.
type Metrics struct {
	state   *prometheus.GaugeVec
	calls   *prometheus.CounterVec
	retries *prometheus.CounterVec
}

// NewMetrics registers the collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "resilience_breaker_state",
			Help: "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
		}, []string{"dependency"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "resilience_calls_total",
			Help: "Attempts at a dependency by outcome: success, failure, or rejected (breaker open).",
		}, []string{"dependency", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "resilience_retries_total",
			Help: "Retries of idempotent calls per dependency.",
		}, []string{"dependency"}),
	}
	reg.MustRegister(m.state, m.calls, m.retries)
	return m
}

func stateValue(s circuitbreaker.State) float64 {
	switch s {
	case circuitbreaker.HalfOpenState:
		return 1
	case circuitbreaker.OpenState:
		return 2
	default:
		return 0
	}
}

// failed says whether an HTTP attempt counts against the dependency: transport errors,
// timeouts and 5xx do; 4xx are the caller's problem and do not.
func failed(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	return resp != nil && resp.StatusCode >= 500
}

// retryable says whether an HTTP attempt is worth repeating: failures as above plus 408 and 429.
func retryable(resp *http.Response, err error) bool {
	if failed(resp, err) {
		return !errors.Is(err, circuitbreaker.ErrOpen)
	}
	return resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout)
}

// Idempotent says whether a request may be sent twice: safe methods, PUT and DELETE, and any
// request carrying an Idempotency-Key (the payment provider call does).
func Idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// HTTPClient returns a client for the dependency name: every request runs under the breaker
// and a per-attempt timeout; idempotent ones are retried with backoff and jitter (honouring
// Retry-After up to BackoffMax). base is the transport underneath (nil: http.DefaultTransport).
// While the breaker is open, requests fail at once with an error wrapping ErrOpen.
func HTTPClient(name string, s Settings, base http.RoundTripper, m *Metrics) *http.Client {
	if base == nil {
		base = http.DefaultTransport
	}
	// Each attempt is a client span that carries the trace context to the dependency.
	base = otelhttp.NewTransport(base, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return name + " " + r.Method
	}), otelhttp.WithPropagators(telemetry.Propagator))
	breaker := circuitbreaker.NewBuilder[*http.Response]().
		HandleIf(failed).
		WithFailureThreshold(max(s.BreakerFailures, 1)).
		WithSuccessThreshold(max(s.BreakerSuccesses, 1)).
		WithDelay(s.BreakerDelay).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			m.state.WithLabelValues(name).Set(stateValue(e.NewState))
		}).
		OnSuccess(func(failsafe.ExecutionEvent[*http.Response]) { m.calls.WithLabelValues(name, "success").Inc() }).
		OnFailure(func(failsafe.ExecutionEvent[*http.Response]) { m.calls.WithLabelValues(name, "failure").Inc() }).
		Build()
	m.state.WithLabelValues(name).Set(0)
	perAttempt := timeout.New[*http.Response](s.Timeout)
	retry := retrypolicy.NewBuilder[*http.Response]().
		HandleIf(retryable).
		AbortOnErrors(circuitbreaker.ErrOpen, context.Canceled).
		WithMaxAttempts(max(s.MaxAttempts, 1)).
		WithBackoff(s.BackoffBase, s.BackoffMax).
		WithJitterFactor(0.25).
		WithDelayFunc(func(exec failsafe.ExecutionAttempt[*http.Response]) time.Duration {
			if d := failsafehttp.DelayFunc(exec); d > 0 {
				return min(d, s.BackoffMax)
			}
			return -1 // fall back to the backoff
		}).
		ReturnLastFailure().
		OnRetry(func(failsafe.ExecutionEvent[*http.Response]) { m.retries.WithLabelValues(name).Inc() }).
		Build()
	once := failsafehttp.NewRoundTripper(base, breaker, perAttempt)
	retried := failsafehttp.NewRoundTripper(base, retry, breaker, perAttempt)
	return &http.Client{Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		var (
			resp *http.Response
			err  error
		)
		if Idempotent(r) {
			resp, err = retried.RoundTrip(r)
		} else {
			resp, err = once.RoundTrip(r)
		}
		if errors.Is(err, circuitbreaker.ErrOpen) {
			m.calls.WithLabelValues(name, "rejected").Inc()
		}
		return resp, err
	})}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Guard protects a call that is not HTTP (an SMTP conversation) the same way.
type Guard struct {
	name     string
	m        *Metrics
	once     failsafe.Executor[any]
	retried  failsafe.Executor[any]
	breaker  circuitbreaker.CircuitBreaker[any]
	attempts int
}

// NewGuard returns a Guard for the dependency name.
func NewGuard(name string, s Settings, m *Metrics) *Guard {
	breaker := circuitbreaker.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil && !errors.Is(err, context.Canceled) }).
		WithFailureThreshold(max(s.BreakerFailures, 1)).
		WithSuccessThreshold(max(s.BreakerSuccesses, 1)).
		WithDelay(s.BreakerDelay).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) { m.state.WithLabelValues(name).Set(stateValue(e.NewState)) }).
		OnSuccess(func(failsafe.ExecutionEvent[any]) { m.calls.WithLabelValues(name, "success").Inc() }).
		OnFailure(func(failsafe.ExecutionEvent[any]) { m.calls.WithLabelValues(name, "failure").Inc() }).
		Build()
	m.state.WithLabelValues(name).Set(0)
	perAttempt := timeout.New[any](s.Timeout)
	retry := retrypolicy.NewBuilder[any]().
		AbortOnErrors(circuitbreaker.ErrOpen, context.Canceled).
		WithMaxAttempts(max(s.MaxAttempts, 1)).
		WithBackoff(s.BackoffBase, s.BackoffMax).
		WithJitterFactor(0.25).
		ReturnLastFailure().
		OnRetry(func(failsafe.ExecutionEvent[any]) { m.retries.WithLabelValues(name).Inc() }).
		Build()
	return &Guard{
		name: name, m: m, breaker: breaker,
		once:    failsafe.With[any](breaker, perAttempt),
		retried: failsafe.With[any](retry, breaker, perAttempt),
	}
}

// Run calls fn under the guard; idempotent calls are retried. fn gets a context that ends at
// the attempt's timeout.
func (g *Guard) Run(ctx context.Context, idempotent bool, fn func(context.Context) error) error {
	exec := g.once
	if idempotent {
		exec = g.retried
	}
	err := exec.WithContext(ctx).RunWithExecution(func(e failsafe.Execution[any]) error { return fn(e.Context()) })
	if errors.Is(err, circuitbreaker.ErrOpen) {
		g.m.calls.WithLabelValues(g.name, "rejected").Inc()
	}
	return err
}

// ProcessMetrics are the metrics of every guard in this process, registered once with the
// process's registry.
var ProcessMetrics = sync.OnceValue(func() *Metrics { return NewMetrics(telemetry.Registry()) })
