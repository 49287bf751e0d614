package rabbitmq

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the connector's Prometheus metrics, labelled by function (its gateway path).
type Metrics struct {
	deliveries  *prometheus.CounterVec
	acks        *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	requeues    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	functions   prometheus.Gauge
	connected   prometheus.Gauge
}

// NewMetrics makes the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connector_deliveries_total", Help: "Messages received from a function's queue.",
		}, []string{"function"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connector_acks_total", Help: "Messages acknowledged after the function answered 2xx.",
		}, []string{"function"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connector_retries_total", Help: "Invocations retried after 5xx, 429, 408 or no answer.",
		}, []string{"function"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connector_dead_letters_total", Help: "Messages dead-lettered: reason is client_error or attempts_exhausted.",
		}, []string{"function", "reason"}),
		requeues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connector_requeues_total", Help: "Messages handed back to their queue because the connector was stopping.",
		}, []string{"function"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "connector_invoke_duration_seconds", Help: "Time to invoke a function, by HTTP status (0 when no answer).",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}, []string{"function", "code"}),
		functions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "connector_functions", Help: "Functions with a running consumer.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "connector_rabbitmq_connected", Help: "1 while connected to RabbitMQ.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.acks, m.retries, m.deadLetters, m.requeues, m.latency, m.functions, m.connected)
	}
	return m
}

func (m *Metrics) observe(fn string, r Result) {
	m.latency.WithLabelValues(fn, strconv.Itoa(r.Status)).Observe(r.Duration.Seconds())
}
