package provider_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/infra/provider"
)

// Prometheus finds every ready replica's metrics through /system/metrics-targets (http_sd).
func TestMetricsTargetsListEveryReadyReplicaForPrometheus(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("metered", map[string]string{"com.openfaas.scale.min": "2"},
		map[string]string{"METRICS_ADDR": ":8081"})) // an image's fixed port must not win
	s := waitReady(t, h, "metered", 2)

	resp, err := http.Get(h.URL + "/system/metrics-targets")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without credentials: status %d, want 401", resp.StatusCode)
	}

	var targets []provider.MetricsTarget
	if code := h.system(http.MethodGet, "/system/metrics-targets", nil, &targets); code != http.StatusOK {
		t.Fatalf("metrics-targets: status %d", code)
	}
	if len(targets) != 2 {
		t.Fatalf("targets = %+v, want one per replica (2)", targets)
	}
	var want, replicas []string
	for _, in := range s.Instances {
		want = append(want, in.MetricsAddress)
	}
	for _, tg := range targets {
		if len(tg.Targets) != 1 || !slices.Contains(want, tg.Targets[0]) {
			t.Errorf("target %v is not one of the replicas' metrics addresses %v", tg.Targets, want)
			continue
		}
		if tg.Labels["function"] != "metered" {
			t.Errorf("target %v: function label %q", tg.Targets, tg.Labels["function"])
		}
		replicas = append(replicas, tg.Labels["replica"])
		// the address is the one the process was told and serves
		body := get(t, "http://"+tg.Targets[0]+"/metrics")
		if !strings.Contains(body, "echofn_up") {
			t.Errorf("scrape %s: %q", tg.Targets[0], body)
		}
	}
	slices.Sort(replicas)
	if !slices.Equal(replicas, []string{"1", "2"}) {
		t.Errorf("replica labels %v, want [1 2]", replicas)
	}

	// a replica scaled away leaves the list
	if code := h.system(http.MethodPost, "/system/scale-function/metered", map[string]any{"serviceName": "metered", "replicas": 0}, nil); code != http.StatusAccepted {
		t.Fatalf("scale: %d", code)
	}
	eventually(t, 10*time.Second, func() error {
		var now []provider.MetricsTarget
		h.system(http.MethodGet, "/system/metrics-targets", nil, &now)
		if len(now) != 0 {
			return fmt.Errorf("targets after scaling to zero: %+v", now)
		}
		return nil
	})
	// JSON shape Prometheus reads: a list, never null
	raw := ""
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/system/metrics-targets", nil)
	req.SetBasicAuth(h.User, h.Password)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		raw = strings.TrimSpace(string(b))
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &list); err != nil || list == nil {
		t.Errorf("empty targets answer %q, want []", raw)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
