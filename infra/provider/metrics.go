package provider

import (
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
		async: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provider_async_calls_total", Help: "Async calls by outcome (queued, done, failed, retried).",
		}, []string{"function_name", "outcome"}),
	}
	m.registry.MustRegister(m.invocations, m.seconds, m.started, m.serviceCnt, m.replicas, m.ready,
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
