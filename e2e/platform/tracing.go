package platform

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// withTracing adds the span exporter settings to a program's environment (the ones it sets
// itself win): every program but the trace sink sends its spans there over Zipkin's API,
// as the functions do.
func (p *Platform) withTracing(name string, env map[string]string) map[string]string {
	if name == "tracesink" || p.TraceURL == "" {
		return env
	}
	out := map[string]string{
		"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": p.TraceURL + "/api/v2/spans", "OTEL_BSP_SCHEDULE_DELAY": "100",
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// MetricsTargets lists the metrics addresses (host:port) of a function's ready replicas, from
// the provider's GET /system/metrics-targets.
func (p *Platform) MetricsTargets(t testing.TB, function string) []string {
	t.Helper()
	var targets []struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(p.system(t, http.MethodGet, "/system/metrics-targets", nil), &targets); err != nil {
		t.Fatalf("metrics targets: %v", err)
	}
	var out []string
	for _, tg := range targets {
		if tg.Labels["function"] == function {
			out = append(out, tg.Targets...)
		}
	}
	return out
}

// FunctionMetric sums a metric over every ready replica of function (see Metric for labels).
func (p *Platform) FunctionMetric(t testing.TB, function, name string, labels ...string) (float64, error) {
	t.Helper()
	targets := p.MetricsTargets(t, function)
	if len(targets) == 0 {
		return 0, fmt.Errorf("%s has no ready replica", function)
	}
	var sum float64
	for _, addr := range targets {
		v, err := Metric("http://"+addr+"/metrics", name, labels...)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}
