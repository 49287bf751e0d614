package provider

import (
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the OpenFaaS gateway's metrics under its names, plus cold starts and replicas.
type metrics struct {
	registry    *prometheus.Registry
	invocations *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	started     *prometheus.CounterVec
	serviceCnt  *prometheus.GaugeVec
	replicas    *prometheus.GaugeVec
	ready       *prometheus.GaugeVec
	coldStarts  *prometheus.CounterVec
	coldSeconds *prometheus.HistogramVec
	restarts    *prometheus.CounterVec
	async       *prometheus.CounterVec
	rejected    *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_total", Help: "Function metrics",
		}, []string{"function_name", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_functions_seconds", Help: "Function time taken",
		}, []string{"function_name", "code"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_started", Help: "The total number of function HTTP requests started.",
		}, []string{"function_name"}),
		serviceCnt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_service_count", Help: "Current count of replicas for function",
		}, []string{"function_name"}),
		replicas: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "provider_function_replicas", Help: "Replicas the provider wants for a function.",
		}, []string{"function_name"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "provider_function_replicas_ready", Help: "Replicas of a function answering their health check.",
		}, []string{"function_name"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provider_cold_starts_total", Help: "Requests that woke a function from zero replicas.",
		}, []string{"function_name"}),
		coldSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "provider_cold_start_seconds", Help: "Time from a request at zero replicas until a replica was ready.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"function_name"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provider_function_restarts_total", Help: "Function processes restarted after they ended unasked.",
		}, []string{"function_name"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provider_gate_rejections_total", Help: "Calls the provider answered itself, before any function ran: unauthenticated (401) or rate_limited (429).",
		}, []string{"function_name", "reason"}),
		async: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provider_async_calls_total", Help: "Async calls by outcome (queued, done, failed, retried).",
		}, []string{"function_name", "outcome"}),
	}
	m.registry.MustRegister(m.rejected, m.invocations, m.seconds, m.started, m.serviceCnt, m.replicas, m.ready,
		m.coldStarts, m.coldSeconds, m.restarts, m.async,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// forget drops a removed function's per-function gauges.
func (m *metrics) forget(name string) {
	m.serviceCnt.DeleteLabelValues(name)
	m.replicas.DeleteLabelValues(name)
	m.ready.DeleteLabelValues(name)
}

// MetricsTarget is one entry of Prometheus HTTP service discovery (http_sd_configs): a
// replica's metrics address with the function and replica as labels.
type MetricsTarget struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// metricsTargets answers GET /system/metrics-targets: every ready replica's METRICS_ADDR, in the
// shape Prometheus's http_sd_configs reads, so Prometheus follows scaling without a restart.
func (p *Provider) metricsTargets(w http.ResponseWriter, r *http.Request) {
	p.mu.RLock()
	fns := make([]*function, 0, len(p.functions))
	for _, f := range p.functions {
		fns = append(fns, f)
	}
	p.mu.RUnlock()
	slices.SortFunc(fns, func(a, b *function) int { return strings.Compare(a.name, b.name) })
	out := []MetricsTarget{}
	for _, f := range fns {
		f.mu.Lock()
		rs := slices.Concat(f.replicas, f.previous)
		f.mu.Unlock()
		for _, rep := range rs {
			addr := rep.metrics.Load()
			if addr == nil || !rep.ready.Load() {
				continue
			}
			out = append(out, MetricsTarget{Targets: []string{*addr}, Labels: map[string]string{
				"function": f.name,
				"replica":  strings.TrimPrefix(rep.id, f.name+"-"),
			}})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
