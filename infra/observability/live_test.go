package observability_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/infra/observability"
	"github.com/faas-commerce/faas-commerce/infra/provider"
)

const (
	amqpURL          = "amqp://guest:guest@127.0.0.1:5672/"
	rabbitMetricsURL = "http://127.0.0.1:15692/metrics/per-object"
)

// repoRoot is the repository, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// build compiles pkg (a package path in the workspace) into dir.
func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func suffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// process is a program the test started; it is stopped (SIGTERM, then SIGKILL) at cleanup.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, name, bin string, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait() // the exit status shows in the log when it matters
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.log.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// eventually polls cond until it returns nil or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	wait := 10 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(wait) // polling interval, not synchronisation
		wait = min(2*wait, 250*time.Millisecond)
	}
}

func httpGet(url, user, password string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// platform is a provider with one function deployed from a binary built like the platform's.
type platform struct {
	URL, User, Password, StateDir string
}

func (p platform) system(t *testing.T, method, path string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, p.URL+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(p.User, p.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p platform) invoke(t *testing.T, path string) int {
	t.Helper()
	code, _, err := httpGet(p.URL+path, "", "")
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return code
}

// Every metric a dashboard panel, a dashboard variable or an alert rule reads is exposed by the
// running platform: the provider's /metrics, each function replica's metrics found through
// /system/metrics-targets, the relay's, the connector's (when connectors/ has one to run) and
// RabbitMQ's rabbitmq_prometheus plugin. Then Prometheus, with the config make up renders,
// scrapes all of them.
func TestEveryQueriedMetricIsExposedByTheRunningPlatform(t *testing.T) {
	queries := allQueries(t)
	bin := t.TempDir()
	var wg sync.WaitGroup
	paths := map[string]string{}
	var mu sync.Mutex
	for name, pkg := range map[string]string{
		"provider": "./infra/cmd/provider",
		"obsfn":    "./infra/observability/obsfn",
		"relay":    "./connectors/cmd/relay",
		"migrate":  "./migrations/cmd/migrate",
	} {
		wg.Go(func() {
			p := build(t, bin, name, pkg)
			mu.Lock()
			paths[name] = p
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	id := suffix(t)

	// the provider, with async calls on in queues of this test's own
	state := filepath.Join(t.TempDir(), "state")
	fnBin := t.TempDir()
	if err := os.Symlink(paths["obsfn"], filepath.Join(fnBin, "obsfn")); err != nil {
		t.Fatal(err)
	}
	asyncExchange, asyncQueue := "obs-test.async."+id, "obs-test.async-calls."+id
	t.Cleanup(func() { deleteRabbitNames(t, asyncExchange, asyncQueue) })
	providerAddr := freeAddr(t)
	start(t, "provider", paths["provider"], map[string]string{
		"PROVIDER_ADDR": providerAddr, "PROVIDER_STATE_DIR": state, "FUNCTIONS_BIN_DIR": fnBin,
		"PROVIDER_SCALE_INTERVAL": "100ms", "PROVIDER_STOP_TIMEOUT": "5s", "PROVIDER_SCALE_DOWN_DELAY": "10m",
		"ASYNC_AMQP_URL": amqpURL, "ASYNC_EXCHANGE": asyncExchange, "ASYNC_QUEUE": asyncQueue,
		"ASYNC_RETRY_BACKOFF": "10ms", "ASYNC_MAX_ATTEMPTS": "2",
	})
	p := platform{URL: "http://" + providerAddr, StateDir: state}
	eventually(t, 20*time.Second, "provider healthy", func() error {
		code, _, err := httpGet(p.URL+"/healthz", "", "")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d", code)
		}
		return err
	})
	p.User = mustRead(t, filepath.Join(state, "auth", provider.BasicAuthUserFile))
	p.Password = mustRead(t, filepath.Join(state, "auth", provider.BasicAuthPasswordFile))

	// a downstream that always fails: the function's guarded client retries, then its breaker opens
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(downstream.Close)
	labels := map[string]string{provider.LabelScaleMin: "0"} // the first call is a cold start
	if code := p.system(t, http.MethodPost, "/system/functions", map[string]any{
		"service": "obsfn", "image": "ghcr.io/faas-commerce/obsfn:test", "labels": labels,
		"envVars": map[string]string{"DOWNSTREAM_URL": downstream.URL, "exec_timeout": "5s"},
	}); code != http.StatusAccepted {
		t.Fatalf("deploy: status %d", code)
	}
	if code := p.invoke(t, "/function/obsfn/"); code != http.StatusOK {
		t.Fatalf("cold call: status %d", code)
	}
	for range 3 {
		p.invoke(t, "/function/obsfn/")
		p.invoke(t, "/function/obsfn/fail")
	}
	for range 4 { // 2 attempts each: retries, failures, then the breaker opens and rejects
		p.invoke(t, "/function/obsfn/call")
	}
	// an async call, then a crash the provider restarts the replica after
	// (the provider answers 503 until its RabbitMQ connection is up)
	eventually(t, 20*time.Second, "async call accepted", func() error {
		resp, err := http.Post(p.URL+"/async-function/obsfn/", "text/plain", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	waitFor(t, p.URL+"/metrics", `provider_async_calls_total{function_name="obsfn.openfaas-fn",outcome="done"}`)
	p.invoke(t, "/function/obsfn/crash")
	waitFor(t, p.URL+"/metrics", `provider_function_restarts_total{function_name="obsfn.openfaas-fn"}`)
	// the function's own metrics from the replica serving now
	var targets []provider.MetricsTarget
	eventually(t, 20*time.Second, "a ready replica in /system/metrics-targets", func() error {
		code, body, err := httpGet(p.URL+"/system/metrics-targets", p.User, p.Password)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		if err := json.Unmarshal([]byte(body), &targets); err != nil {
			return err
		}
		if len(targets) == 0 {
			return fmt.Errorf("no targets")
		}
		return nil
	})
	for range 2 { // the restarted replica's counters start again
		p.invoke(t, "/function/obsfn/")
		p.invoke(t, "/function/obsfn/fail")
	}
	for range 4 {
		p.invoke(t, "/function/obsfn/call")
	}

	relayAddr := startRelay(t, paths, id)

	// scrape everything
	exposed := map[string]bool{}
	sources := map[string]string{
		"provider": p.URL + "/metrics",
		"relay":    "http://" + relayAddr + "/metrics",
		"rabbitmq": rabbitMetricsURL,
	}
	for _, tg := range targets {
		sources["function "+tg.Labels["function"]+" replica "+tg.Labels["replica"]] = "http://" + tg.Targets[0] + "/metrics"
	}
	for name, u := range sources {
		code, body, err := httpGet(u, "", "")
		if err != nil || code != http.StatusOK {
			t.Fatalf("scrape %s (%s): status %d, %v (RabbitMQ's needs: rabbitmq-plugins enable rabbitmq_prometheus)", name, u, code, err)
		}
		names, err := observability.Exposed(strings.NewReader(body))
		if err != nil {
			t.Fatalf("scrape %s: %v", name, err)
		}
		maps.Copy(exposed, names)
	}

	// the connector: run it when connectors/ has one; otherwise its names are listed as unchecked
	connectorNames := map[string][]string{}
	var unchecked []string
	for _, q := range queries {
		names, err := observability.MetricNames(q.Expr)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(n, "connector_") {
				connectorNames[n] = append(connectorNames[n], q.Where)
				continue
			}
			if !exposed[n] {
				t.Errorf("%s reads %s, which the running platform does not expose", q.Where, n)
			}
		}
	}
	for n := range connectorNames {
		if !exposed[n] {
			unchecked = append(unchecked, n)
		}
	}
	slices.Sort(unchecked)
	if len(unchecked) > 0 {
		// no connector program to run yet: hold the names to what connectors/ declares
		declared := declaredMetricNames(t, filepath.Join(repoRoot(t), "connectors", "rabbitmq"))
		for _, n := range unchecked {
			if declared != nil && !declared[histogramFamily(n)] {
				t.Errorf("%v read %s, which connectors/rabbitmq does not declare", connectorNames[n], n)
			}
		}
		t.Logf("connector metrics checked against connectors/rabbitmq's declarations, not live: %s", strings.Join(unchecked, ", "))
	}

	t.Run("prometheus scrapes every target with the rendered config", func(t *testing.T) {
		prometheusScrapesThePlatform(t, p, providerAddr, relayAddr, len(targets))
	})
}

// histogramFamily is the family a series name belongs to: NAME_bucket, NAME_sum and NAME_count
// are NAME's.
func histogramFamily(n string) string {
	for _, sfx := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(n, sfx); ok {
			return f
		}
	}
	return n
}

var metricNameDecl = regexp.MustCompile(`Name:\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)

// declaredMetricNames are the metric names declared (Name: "...") in a package's Go files.
func declaredMetricNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, m := range metricNameDecl.FindAllStringSubmatch(mustRead(t, f), -1) {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Logf("no metric declarations in %s (not in this checkout yet): the connector's metrics are unchecked", dir)
		return nil
	}
	return out
}

// waitFor polls a metrics page until it shows want.
func waitFor(t *testing.T, url, want string) {
	t.Helper()
	eventually(t, 20*time.Second, want, func() error {
		_, body, err := httpGet(url, "", "")
		if err == nil && !strings.Contains(body, want) {
			err = fmt.Errorf("not on %s yet", url)
		}
		return err
	})
}

// allQueries are every dashboard's and every rule file's expressions.
func allQueries(t *testing.T) []observability.Query {
	t.Helper()
	var out []observability.Query
	for _, file := range dashboardFiles(t) {
		d, err := observability.ReadDashboard(file)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Queries(filepath.Base(file))...)
	}
	rules, _ := filepath.Glob(filepath.Join(prometheusDir, "rules", "*.yml"))
	for _, f := range rules {
		qs, err := observability.RuleQueries(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, qs...)
	}
	if len(out) < 20 {
		t.Fatalf("only %d queries found in dashboards and rules", len(out))
	}
	return out
}

// startRelay runs connectors/cmd/relay on a freshly migrated database of its own and returns
// its metrics address.
func startRelay(t *testing.T, paths map[string]string, id string) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	db := "obs_test_" + id
	u.Path = "/" + db
	dbURL := u.String()
	t.Cleanup(func() {
		admin := *u
		admin.Path = "/postgres"
		out, err := exec.Command("psql", admin.String(), "-c", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)").CombinedOutput()
		if err != nil {
			t.Errorf("drop database %s: %v\n%s", db, err, out)
		}
	})
	migrate := exec.Command(paths["migrate"])
	migrate.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate %s: %v\n%s", db, err, out)
	}
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "database-url"), []byte(dbURL), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	start(t, "relay", paths["relay"], map[string]string{
		"SECRETS_DIR": secrets, "RELAY_METRICS_ADDR": addr, "AMQP_URL": amqpURL,
		"EXCHANGE": "obs-test.events." + id,
	})
	t.Cleanup(func() { deleteRabbitNames(t, "obs-test.events."+id, "") })
	eventually(t, 20*time.Second, "relay metrics", func() error {
		_, body, err := httpGet("http://"+addr+"/metrics", "", "")
		if err == nil && !strings.Contains(body, "relay_outbox_query_up 1") {
			err = fmt.Errorf("outbox not readable yet")
		}
		return err
	})
	return addr
}

// deleteRabbitNames removes an exchange and a queue the test made (either may be empty).
func deleteRabbitNames(t *testing.T, exchange, queue string) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Errorf("clean up RabbitMQ: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("clean up RabbitMQ: %v", err)
		return
	}
	defer ch.Close()
	if queue != "" {
		if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
			t.Errorf("delete queue %s: %v", queue, err)
		}
	}
	if exchange != "" {
		if err := ch.ExchangeDelete(exchange, false, false); err != nil {
			t.Errorf("delete exchange %s: %v", exchange, err)
		}
	}
}

// prometheusScrapesThePlatform renders the config as make up does, runs Debian's Prometheus
// with it and waits until the provider (basic auth), every function replica (http_sd from
// /system/metrics-targets), the relay and RabbitMQ are up.
func prometheusScrapesThePlatform(t *testing.T, p platform, providerAddr, relayAddr string, replicas int) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Fatal("prometheus is missing: install Debian's prometheus package (make prometheus, or apt-get install -y prometheus)")
	}
	promAddr := freeAddr(t)
	render := exec.Command(filepath.Join(repoRoot(t), "infra", "scripts", "observability.sh"), "config")
	render.Env = append(os.Environ(), "STATE_DIR="+p.StateDir, "PROVIDER_ADDR="+providerAddr,
		"PROMETHEUS_ADDR="+promAddr, "RELAY_METRICS_ADDR="+relayAddr)
	if out, err := render.CombinedOutput(); err != nil {
		t.Fatalf("render config: %v\n%s", err, out)
	}
	start(t, "prometheus", "prometheus", nil,
		"--config.file="+filepath.Join(p.StateDir, "prometheus", "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(t.TempDir(), "data"),
		"--web.listen-address="+promAddr)
	want := map[string]int{"provider": 1, "functions": replicas, "relay": 1, "rabbitmq": 1, "prometheus": 1}
	eventually(t, 60*time.Second, "Prometheus scraping every target", func() error {
		_, body, err := httpGet("http://"+promAddr+"/api/v1/targets?state=active", "", "")
		if err != nil {
			return err
		}
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return fmt.Errorf("targets: %w", err)
		}
		up := map[string]int{}
		var problems []string
		for _, tg := range r.Data.ActiveTargets {
			job := tg.Labels["job"]
			if tg.Health == "up" {
				up[job]++
			} else if job != "connector" {
				problems = append(problems, fmt.Sprintf("%s %s: %s %s", job, tg.Labels["instance"], tg.Health, tg.LastError))
			}
			if job == "functions" && tg.Labels["function"] != "obsfn" {
				problems = append(problems, fmt.Sprintf("function target labels %v", tg.Labels))
			}
		}
		for job, n := range want {
			if up[job] < n {
				problems = append(problems, fmt.Sprintf("%s: %d up, want %d", job, up[job], n))
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s", strings.Join(problems, "; "))
		}
		return nil
	})
	// the rules loaded and evaluate
	eventually(t, 30*time.Second, "alert rules loaded", func() error {
		_, body, err := httpGet("http://"+promAddr+"/api/v1/rules", "", "")
		if err == nil && !strings.Contains(body, "CircuitBreakerOpen") {
			err = fmt.Errorf("rules: %s", tail(body, 300))
		}
		return err
	})
}
