package fn

import (
	"context"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// requestMetrics are the RED metrics every function records about itself, beside the
// gateway's view of it (gateway_function_invocation_total and friends).
type requestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

var metrics = sync.OnceValue(func() *requestMetrics {
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "function_requests_total",
			Help: "Requests a function served, by route and status code.",
		}, []string{"function", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "function_request_duration_seconds",
			Help:    "Time a function took to answer, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"function", "route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "function_requests_in_flight",
			Help: "Requests a function is serving now.",
		}, []string{"function"}),
	}
	telemetry.Registry().MustRegister(m.requests, m.duration, m.inFlight)
	return m
})

// route remembers which pattern served a request, for span names and metric labels.
type route struct{ pattern string }

type routeKey struct{}

func withRoute(ctx context.Context) (context.Context, *route) {
	rt := &route{pattern: "unmatched"}
	return context.WithValue(ctx, routeKey{}, rt), rt
}

func setRoute(ctx context.Context, pattern string) {
	if rt, ok := ctx.Value(routeKey{}).(*route); ok {
		rt.pattern = pattern
	}
}

func codeLabel(code int) string { return strconv.Itoa(code) }
