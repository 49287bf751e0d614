package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/infra/provider"
	"github.com/openfaas/faas-provider/types"
	"github.com/sethvargo/go-envconfig"
)

// binaries built once for the whole test run
var bins struct {
	dir      string
	echo     string
	provider string
	faasCLI  string
	gateway  string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if dir := os.Getenv("PROVIDER_TEST_BIN_DIR"); dir != "" {
		// a test that runs this binary again hands over what it built
		setBins(dir)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "provider-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	setBins(dir)
	// faas-cli is pinned in the tools module, which builds through the repo's go.work; the
	// gateway has its own tools module outside the workspace
	builds := []struct{ out, pkg, dir, gowork string }{
		{bins.echo, "./testdata/echofn", "..", os.Getenv("GOWORK")},
		{bins.provider, "./cmd/provider", "..", os.Getenv("GOWORK")},
		{bins.faasCLI, "github.com/openfaas/faas-cli", "../..", ""},
		{bins.gateway, "github.com/openfaas/faas/gateway", "../../tools/gateway", "off"},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(builds))
	for i, b := range builds {
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
			cmd.Dir = b.dir
			cmd.Env = append(os.Environ(), "GOWORK="+b.gowork)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("build %s: %w\n%s", b.pkg, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

func setBins(dir string) {
	bins.dir = dir
	bins.echo = filepath.Join(dir, "echo")
	bins.provider = filepath.Join(dir, "provider")
	bins.faasCLI = filepath.Join(dir, "faas-cli")
	bins.gateway = filepath.Join(dir, "gateway")
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// harness is one provider running in the test process on a free port with its own state.
type harness struct {
	t        *testing.T
	URL      string
	User     string
	Password string
	StateDir string
	BinDir   string
	P        *provider.Provider
	stop     func()
}

func defaultEnv(t *testing.T) map[string]string {
	return map[string]string{
		"PROVIDER_ADDR":             "127.0.0.1:0",
		"PROVIDER_STATE_DIR":        filepath.Join(t.TempDir(), "state"),
		"FUNCTIONS_BIN_DIR":         binDir(t),
		"PROVIDER_SCALE_INTERVAL":   "100ms",
		"PROVIDER_STOP_TIMEOUT":     "5s",
		"PROVIDER_READY_TIMEOUT":    "20s",
		"PROVIDER_SCALE_DOWN_DELAY": "300ms",
		"ASYNC_AMQP_URL":            "", // async tests turn it on with their own names
	}
}

// binDir is a functions bin directory holding the echo binary as "echo" and "echo-v2".
func binDir(t *testing.T) string {
	dir := t.TempDir()
	for _, name := range []string{"echo", "echo-v2"} {
		if err := os.Symlink(bins.echo, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startProvider(t *testing.T, env map[string]string) *harness {
	t.Helper()
	cfg, err := provider.LoadConfig(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(&testWriter{t: t}, nil))
	p, err := provider.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("provider: %v", err)
	}
	h := &harness{t: t, URL: "http://" + addr, StateDir: cfg.StateDir, BinDir: cfg.BinDir, P: p}
	h.User = readFile(t, filepath.Join(p.CredentialsDir(), provider.BasicAuthUserFile))
	h.Password = readFile(t, filepath.Join(p.CredentialsDir(), provider.BasicAuthPasswordFile))
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("provider run: %v", err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

type testWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if testing.Verbose() {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// system calls /system/* with the admin credentials and decodes a JSON answer into out.
func (h *harness) system(method, path string, in, out any) int {
	h.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.SetBasicAuth(h.User, h.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		if e, ok := out.(*string); ok {
			*e = string(b)
		}
	}
	return resp.StatusCode
}

func (h *harness) deploy(spec types.FunctionDeployment) {
	h.t.Helper()
	if code := h.system(http.MethodPost, "/system/functions", spec, nil); code != http.StatusAccepted {
		h.t.Fatalf("deploy %s: status %d", spec.Service, code)
	}
}

func (h *harness) status(name string) provider.FunctionStatus {
	h.t.Helper()
	var s provider.FunctionStatus
	if code := h.system(http.MethodGet, "/system/function/"+name, nil, &s); code != http.StatusOK {
		h.t.Fatalf("status %s: %d", name, code)
	}
	return s
}

// invoke calls /function/NAME/path and returns status, body and headers.
func (h *harness) invoke(name, path string, body string) (int, string, http.Header, error) {
	resp, err := http.Post(h.URL+"/function/"+name+path, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	wait := 10 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", within, err)
		}
		time.Sleep(wait) // polling interval, not synchronisation
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func ptr[T any](v T) *T { return &v }

func echoSpec(name string, labels map[string]string, env map[string]string) types.FunctionDeployment {
	return types.FunctionDeployment{Service: name, Image: "ghcr.io/faas-commerce/echo:dev", Labels: &labels, EnvVars: env}
}

func instancePIDs(s provider.FunctionStatus) []int {
	var pids []int
	for _, in := range s.Instances {
		if in.PID > 0 {
			pids = append(pids, int(in.PID))
		}
	}
	return pids
}

func waitReady(t *testing.T, h *harness, name string, n int) provider.FunctionStatus {
	t.Helper()
	var s provider.FunctionStatus
	eventually(t, 20*time.Second, func() error {
		s = h.status(name)
		if int(s.AvailableReplicas) != n || len(s.Instances) != n {
			return fmt.Errorf("%s: %d ready of %d instances, want %d", name, s.AvailableReplicas, len(s.Instances), n)
		}
		return nil
	})
	return s
}
