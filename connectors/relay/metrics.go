package relay

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus metrics. The outbox gauges are read from PostgreSQL at
// scrape time, so they hold across restarts and several relays.
type Metrics struct {
	published prometheus.Counter
	failed    prometheus.Counter
	parked    prometheus.Counter

	pool        *pgxpool.Pool
	maxAttempts int
	lag         *prometheus.Desc
	oldest      *prometheus.Desc
	parkedNow   *prometheus.Desc
	up          *prometheus.Desc
}

// NewMetrics makes the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, maxAttempts int) *Metrics {
	m := &Metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_published_total", Help: "Outbox rows published and confirmed by RabbitMQ.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_publish_failures_total", Help: "Outbox rows RabbitMQ returned as unroutable or nacked (each attempt).",
		}),
		parked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_parked_total", Help: "Outbox rows parked after their last attempt.",
		}),
		pool: pool, maxAttempts: maxAttempts,
		lag:       prometheus.NewDesc("relay_outbox_lag", "Outbox rows waiting to be published (parked rows excluded).", nil, nil),
		oldest:    prometheus.NewDesc("relay_outbox_oldest_age_seconds", "Age of the oldest row waiting to be published (0 when none).", nil, nil),
		parkedNow: prometheus.NewDesc("relay_outbox_parked", "Outbox rows parked now: unpublished with attempts at the limit.", nil, nil),
		up:        prometheus.NewDesc("relay_outbox_query_up", "1 when the outbox could be read for these metrics.", nil, nil),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.failed, m.parked, m)
	}
	return m
}

// Describe implements prometheus.Collector for the outbox gauges.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lag
	ch <- m.oldest
	ch <- m.parkedNow
	ch <- m.up
}

// Collect implements prometheus.Collector: it reads the outbox (the partial index on
// unpublished rows keeps this cheap).
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var lag, parked int64
	var age float64
	err := m.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE attempts < $1),
		       count(*) FILTER (WHERE attempts >= $1),
		       coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE attempts < $1)), 0)::float8
		FROM messaging.outbox WHERE published_at IS NULL`, m.maxAttempts).Scan(&lag, &parked, &age)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(m.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(m.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(m.lag, prometheus.GaugeValue, float64(lag))
	ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(m.parkedNow, prometheus.GaugeValue, float64(parked))
}
