package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
	"github.com/faas-commerce/faas-commerce/infra/observability"
	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/events"
)

// rabbitMetrics is RabbitMQ's Prometheus plugin, per queue (make test enables the plugin).
const rabbitMetrics = "http://127.0.0.1:15692/metrics/per-object"

// TestDashboardsAndAlertsReadLiveMetrics runs the whole platform, makes it do what the
// dashboards and alerts watch (orders complete, a payment outage makes the guard retry and the
// connector retry, a malformed event is dead-lettered, a function wakes from zero, a crashed
// one is restarted, an async call is made), then checks that every metric a
// Grafana panel, a dashboard variable or an alert rule reads is in the live /metrics output of
// the provider, every function replica, the relay, the connector or RabbitMQ.
func TestDashboardsAndAlertsReadLiveMetrics(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	queries := monitoringQueries(t, root)

	p := platform.Start(t, platform.Options{})
	s := newShop(t, p)
	mug := s.product(t, "MUG-M", 1500, 10)
	_, tok := s.customer(t, "metrics@example.com")
	first := s.place(t, tok, line(mug, 1))
	s.settled(t, []string{first.ID}, time.Minute)

	// A payment outage: charge-payment's guard retries, answers 503, the connector retries.
	setPaymentDown(t, p.PaymentURL, true)
	second := s.place(t, tok, line(mug, 1))
	p.WaitMetric(t, p.ConnectorMetrics, "connector_retries_total", func(v float64) bool { return v > 0 }, time.Minute)
	setPaymentDown(t, p.PaymentURL, false)
	s.settled(t, []string{second.ID}, time.Minute)

	// A malformed event goes to the dead-letter queues of its subscribers.
	p.Publish(t, broker.Message{Exchange: events.Exchange, RoutingKey: events.OrderPlaced, MessageID: uuid.NewString(),
		Type: events.OrderPlaced, ContentType: "application/json", Body: []byte(`{"not":"an event"}`)})
	p.WaitMetric(t, p.ConnectorMetrics, "connector_dead_letters_total", func(v float64) bool { return v > 0 }, time.Minute)

	// The provider's life: a cold start, a crashed replica restarted, an async call.
	p.ScaleToZero(t, "list-products")
	if r := p.Call(t, http.MethodGet, "list-products", "", nil); r.Status != http.StatusOK {
		t.Fatalf("list-products from zero: %d %s", r.Status, r.Body)
	}
	for _, pid := range p.FunctionPIDs(t, "get-product") {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	p.WaitMetric(t, p.Gateway+"/metrics", "provider_function_restarts_total", func(v float64) bool { return v > 0 }, time.Minute)
	resp, err := http.Post(p.Gateway+"/async-function/list-products", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("async call: %d", resp.StatusCode)
	}
	p.WaitMetric(t, p.Gateway+"/metrics", "provider_async_calls_total", func(v float64) bool { return v > 0 }, time.Minute)

	sources := map[string]string{
		"provider":  p.Gateway + "/metrics",
		"relay":     p.RelayMetrics,
		"connector": p.ConnectorMetrics,
		"rabbitmq":  rabbitMetrics,
	}
	for _, fn := range p.Functions {
		for i, target := range p.MetricsTargets(t, fn) {
			sources[fmt.Sprintf("%s replica %d", fn, i)] = "http://" + target + "/metrics"
		}
	}
	exposed := map[string]bool{}
	for name, u := range sources {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("scrape %s (%s): %v", name, u, err)
		}
		names, err := observability.Exposed(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape %s (%s): %d %v", name, u, resp.StatusCode, err)
		}
		for n := range names {
			exposed[n] = true
		}
	}
	var missing []string
	for _, q := range queries {
		names, err := observability.MetricNames(q.Expr)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		for _, n := range names {
			if !exposed[n] {
				missing = append(missing, q.Where+" reads "+n)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("%d queries read metrics the running platform does not expose:\n%s", len(missing), strings.Join(slices.Compact(missing), "\n"))
	}
	t.Logf("%d dashboard and alert queries, every metric they read exposed by %d live sources", len(queries), len(sources))
}

// monitoringQueries are the PromQL expressions of every dashboard and alert rule.
func monitoringQueries(t *testing.T, root string) []observability.Query {
	t.Helper()
	var out []observability.Query
	dashboards, err := filepath.Glob(filepath.Join(root, "infra", "grafana", "dashboards", "*.json"))
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range dashboards {
		d, err := observability.ReadDashboard(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Queries(filepath.Base(f))...)
	}
	rules, err := filepath.Glob(filepath.Join(root, "infra", "prometheus", "rules", "*.yml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no alert rules: %v", err)
	}
	for _, f := range rules {
		qs, err := observability.RuleQueries(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, qs...)
	}
	return out
}
