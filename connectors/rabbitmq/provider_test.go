package rabbitmq

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// localProvider is the platform's local OpenFaaS provider (infra/cmd/provider) running as a
// process on a free port with its own state, functions being testfn processes.
type localProvider struct {
	url, user, password string
}

func build(t *testing.T, dir, pkg, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
}

func startLocalProvider(t *testing.T) *localProvider {
	t.Helper()
	tmp := t.TempDir()
	bin, state := filepath.Join(tmp, "bin"), filepath.Join(tmp, "state")
	var wg sync.WaitGroup
	wg.Go(func() { build(t, "../../infra", "./cmd/provider", filepath.Join(tmp, "provider")) })
	wg.Go(func() { build(t, "..", "./internal/testfn", filepath.Join(bin, "testfn")) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // the provider takes the port next

	var logs bytes.Buffer
	cmd := exec.Command(filepath.Join(tmp, "provider"))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PROVIDER_ADDR=" + addr, "PROVIDER_STATE_DIR=" + state,
		"FUNCTIONS_BIN_DIR=" + bin, "ASYNC_AMQP_URL=", "PROVIDER_STOP_TIMEOUT=5s",
	}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // the exit status is of no interest
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill() // last resort; its functions die with it (Pdeathsig)
			<-exited
		}
		if t.Failed() {
			t.Logf("provider output:\n%s", logs.String())
		}
	})
	p := &localProvider{url: "http://" + addr}
	waitFor(t, "the provider's /healthz", func() bool {
		res, err := http.Get(p.url + "/healthz")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(state, "auth", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	p.user, p.password = read("basic-auth-user"), read("basic-auth-password")
	return p
}

// deploy deploys a testfn function the way faas-cli does.
func (p *localProvider) deploy(t *testing.T, name string, annotations map[string]string, env map[string]string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"service": name, "image": "ghcr.io/test/testfn:dev", "annotations": annotations, "envVars": env})
	req, err := http.NewRequest(http.MethodPost, p.url+"/system/functions", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(p.user, p.password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		msg, _ := io.ReadAll(res.Body)
		t.Fatalf("deploy %s: %d %s", name, res.StatusCode, msg)
	}
}

func TestAgainstTheLocalProvider(t *testing.T) {
	p := startLocalProvider(t)

	type report struct {
		Headers http.Header `json:"headers"`
		Body    string      `json:"body"`
	}
	var mu sync.Mutex
	var reports []report
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		reports = append(reports, rep)
		mu.Unlock()
	}))
	t.Cleanup(sink.Close)
	reportsWithBody := func(body string) []report {
		mu.Lock()
		defer mu.Unlock()
		var out []report
		for _, r := range reports {
			if r.Body == body {
				out = append(out, r)
			}
		}
		return out
	}

	p.deploy(t, "reserve-stock", map[string]string{"topic": "order.placed", ConcurrencyAnnotation: "2"}, map[string]string{"REPORT_URL": sink.URL})
	r := newRig(t)
	r.cfg.GatewayURL = p.url
	r.creds = Secrets{User: p.user, Password: p.password}
	c := r.start(false)
	r.ready(1)

	var good []string
	for i := range 20 {
		good = append(good, r.publish("order.placed", `{"n":`+strconv.Itoa(i)+`}`)...)
	}
	bad := r.publish("order.placed", "reject")
	waitFor(t, "the good messages acked", func() bool {
		return testutil.ToFloat64(c.metrics.acks.WithLabelValues("reserve-stock.openfaas-fn")) == 20
	})
	waitFor(t, "the rejected message in the DLQ", func() bool { return len(r.dlq("reserve-stock")) == 1 })
	if dl := r.dlq("reserve-stock")[0]; dl.MessageID != bad[0] {
		t.Errorf("dead letter %+v", dl)
	}
	got := reportsWithBody(`{"n":7}`)
	if len(got) != 1 {
		t.Fatalf("message 7 reached the function %d times", len(got))
	}
	h := got[0].Headers
	if h.Get("X-Topic") != "order.placed" || h.Get("X-Message-Id") != good[7] || h.Get("X-Call-Id") == "" ||
		h.Get("Traceparent") != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" {
		t.Errorf("headers through the provider: %v", h)
	}

	// A function deployed later gets its queue at the next refresh.
	p.deploy(t, "notify", map[string]string{"topic": "order.placed,order.completed"}, map[string]string{"REPORT_URL": sink.URL})
	c.Refresh()
	r.ready(2)
	r.publish("order.completed", `{"done":true}`)
	waitFor(t, "the later function invoked", func() bool { return len(reportsWithBody(`{"done":true}`)) == 1 })
}
