package provider_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const netnsEnv = "PROVIDER_TEST_IN_NETNS"

// TestGatewayInFrontOfTheProvider puts the real OpenFaaS gateway 0.27.14 (with Prometheus, which
// its /system/functions needs) in front of the provider and drives it with faas-cli. The gateway
// always binds :8080 and :8082, so the test runs itself again in a fresh network namespace,
// where those ports are free even beside `make up`.
func TestGatewayInFrontOfTheProvider(t *testing.T) {
	if os.Getenv(netnsEnv) != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGatewayInFrontOfTheProvider$", "-test.v")
		cmd.Env = append(os.Environ(), netnsEnv+"=1", "PROVIDER_TEST_BIN_DIR="+bins.dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestGatewayInFrontOfTheProvider") {
			t.Fatalf("gateway test in its own network namespace: %v\n%s", err, out)
		}
		return
	}

	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bring up loopback in the test's network namespace: %v %s", err, out)
	}
	h := startProvider(t, defaultEnv(t))
	promPort := startPrometheus(t)

	gw := exec.Command(bins.gateway)
	gw.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"functions_provider_url=" + h.URL + "/",
		"basic_auth=true",
		"secret_mount_path=" + h.P.CredentialsDir(),
		"faas_prometheus_host=127.0.0.1",
		"faas_prometheus_port=" + strconv.Itoa(promPort),
		"read_timeout=30s", "write_timeout=30s", "upstream_timeout=25s",
	}
	startProcess(t, gw, "gateway")
	waitHTTP(t, "http://127.0.0.1:8080/healthz")

	cli := faasCLI{t: t, home: t.TempDir(), gateway: "http://127.0.0.1:8080"}
	exerciseFaasCLI(t, cli, h.Password)

	// the gateway's own API: deploy through it, invoke through it
	viaGateway := &harness{t: t, URL: "http://127.0.0.1:8080", User: h.User, Password: h.Password}
	viaGateway.deploy(echoSpec("through-gateway", nil, nil))
	eventually(t, 20*time.Second, func() error {
		code, body, hdr, err := viaGateway.invoke("through-gateway", "/x", "via gateway")
		if err != nil || code != http.StatusOK || body != "via gateway" {
			return fmt.Errorf("invoke through the gateway: %d %q %v", code, body, err)
		}
		if !strings.HasPrefix(hdr.Get("X-Served-By"), "openfaas-ce/") || hdr.Get("X-Echo-Path") != "/x" {
			return fmt.Errorf("answer did not come through the gateway: %v", hdr)
		}
		return nil
	})
	var list []map[string]any
	if code := viaGateway.system(http.MethodGet, "/system/functions", nil, &list); code != http.StatusOK || len(list) != 1 {
		t.Fatalf("list through the gateway: %d %v", code, list)
	}
}

// startPrometheus runs Debian's prometheus (make test-infra installs it) on a free port.
func startPrometheus(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed: run `make prometheus` (apt-get install -y prometheus)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 5s\nscrape_configs: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	startProcess(t, cmd, "prometheus")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", port))
	return port
}

// startProcess starts cmd and stops it (SIGTERM, then SIGKILL) when the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s output:\n%s", name, b)
		}
		log.Close()
	})
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return nil
	})
}
