package observability_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/infra/observability"
)

const (
	prometheusDir = "../prometheus"
	dashboardsDir = "../grafana/dashboards"
)

func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: install Debian's prometheus package (make prometheus, or apt-get install -y prometheus)")
	}
	return path
}

func TestPrometheusConfigAndRulesPassPromtool(t *testing.T) {
	tool := promtool(t)
	rules, err := filepath.Glob(filepath.Join(prometheusDir, "rules", "*.yml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files in %s/rules (%v)", prometheusDir, err)
	}
	for _, args := range [][]string{
		{"check", "config", filepath.Join(prometheusDir, "prometheus.yml")},
		append([]string{"check", "rules"}, rules...),
	} {
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("dashboards in %s: %v (%v)", dashboardsDir, files, err)
	}
	return files
}

// Each dashboard imports into Grafana: valid JSON, a unique uid, a Prometheus datasource
// variable every query uses, panels on the 24-column grid, and PromQL that parses.
func TestDashboardsAreValidGrafanaJSONOnAPrometheusVariable(t *testing.T) {
	uids := map[string]string{}
	for _, file := range dashboardFiles(t) {
		name := filepath.Base(file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Errorf("%s is not valid JSON", name)
			continue
		}
		d, err := observability.ReadDashboard(file)
		if err != nil {
			t.Error(err)
			continue
		}
		if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
			t.Errorf("%s: uid %q, title %q, schemaVersion %d", name, d.UID, d.Title, d.SchemaVersion)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", name, other, d.UID)
		}
		uids[d.UID] = name

		dsVar := ""
		for _, v := range d.Templating.List {
			if v.Type == "datasource" && v.QueryText() == "prometheus" {
				dsVar = "${" + v.Name + "}"
			}
		}
		if dsVar == "" {
			t.Errorf("%s has no datasource variable of type prometheus", name)
		}
		ids := map[int]bool{}
		queries := 0
		for _, p := range d.AllPanels() {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", name, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s panel %q: gridPos %+v is off the 24-column grid", name, p.Title, p.GridPos)
			}
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || len(p.Targets) == 0 {
				t.Errorf("%s: panel %d (%q) has no title or no queries", name, p.ID, p.Title)
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != dsVar {
				t.Errorf("%s panel %q: datasource %+v, want prometheus %s", name, p.Title, p.Datasource, dsVar)
			}
			for _, tg := range p.Targets {
				queries++
				if tg.Datasource != nil && tg.Datasource.UID != dsVar {
					t.Errorf("%s panel %q target %s: datasource %+v", name, p.Title, tg.RefID, tg.Datasource)
				}
			}
		}
		if queries == 0 {
			t.Errorf("%s queries nothing", name)
		}
		for _, q := range d.Queries(name) {
			if _, err := observability.MetricNames(q.Expr); err != nil {
				t.Errorf("%s: %v", q.Where, err)
			}
		}
	}
}

func TestMetricNamesOfPromQL(t *testing.T) {
	for name, tc := range map[string]struct{ expr, want string }{
		"histogram quantile": {`histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{x=~"$fn"}[$__rate_interval])))`, "a_seconds_bucket"},
		"ratio":              {`sum(rate(a_total{code=~"5.."}[5m])) / sum(rate(b_total[5m])) > 0.05`, "a_total b_total"},
		"name label":         {`{__name__="c_total", job="x"}`, "c_total"},
		"grafana regex var":  {`max by (q) (d{queue=~"(${queue:regex})\\.dlq"})`, "d"},
		"offset and bool":    {`e offset 5m == bool 1 or on(job) f`, "e f"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := observability.MetricNames(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("MetricNames = %v, want %s", got, tc.want)
			}
		})
	}
	if _, err := observability.MetricNames(`{job="x"}`); err == nil {
		t.Error("a selector without a metric name was accepted")
	}
}

func TestExposedNamesFollowTheMetricType(t *testing.T) {
	page := `# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 1
h_sum 0.5
h_count 1
# TYPE c_total counter
c_total{a="b"} 3
# TYPE unused_total counter
# TYPE g gauge
g 1
`
	got, err := observability.Exposed(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"h_bucket", "h_sum", "h_count", "c_total", "g"} {
		if !got[n] {
			t.Errorf("%s not exposed: %v", n, got)
		}
	}
	for _, n := range []string{"h", "unused_total"} {
		if got[n] {
			t.Errorf("%s reported exposed; it has no series of that name", n)
		}
	}
}
