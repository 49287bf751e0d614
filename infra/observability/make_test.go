package observability_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// make observability-up starts the trace sink and Prometheus in the background and prints
// their URLs; make observability-down stops both.
func TestObservabilityUpStartsTheSinkAndPrometheusAndDownStopsThem(t *testing.T) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Fatal("prometheus is missing: install Debian's prometheus package (make prometheus, or apt-get install -y prometheus)")
	}
	state := t.TempDir()
	promAddr, sinkAddr := freeAddr(t), freeAddr(t)
	script := filepath.Join(repoRoot(t), "infra", "scripts", "observability.sh")
	run := func(verb string) string {
		t.Helper()
		cmd := exec.Command(script, verb)
		cmd.Env = append(os.Environ(), "STATE_DIR="+state, "PROMETHEUS_ADDR="+promAddr, "TRACESINK_ADDR="+sinkAddr,
			"PROVIDER_ADDR="+freeAddr(t))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("observability.sh %s: %v\n%s", verb, err, out)
		}
		return string(out)
	}
	pids := func() []int {
		var out []int
		for _, name := range []string{"tracesink", "prometheus"} {
			b, err := os.ReadFile(filepath.Join(state, name+".pid"))
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				out = append(out, pid)
			}
		}
		return out
	}
	t.Cleanup(func() {
		for _, pid := range pids() { // only when the test failed before down
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	out := run("up")
	for _, want := range []string{"http://" + sinkAddr + "/api/v2/traces", "http://" + promAddr + "/"} {
		if !strings.Contains(out, want) {
			t.Errorf("up printed no %s:\n%s", want, out)
		}
	}
	if code, _, err := httpGet("http://"+sinkAddr+"/healthz", "", ""); err != nil || code != 200 {
		t.Errorf("trace sink: %d %v", code, err)
	}
	if code, _, err := httpGet("http://"+promAddr+"/-/ready", "", ""); err != nil || code != 200 {
		t.Errorf("prometheus: %d %v", code, err)
	}
	started := pids()
	if len(started) != 2 {
		t.Fatalf("pid files: %v", started)
	}
	if again := run("up"); !strings.Contains(again, promAddr) { // a second up keeps them
		t.Errorf("second up:\n%s", again)
	}
	if now := pids(); fmt.Sprint(now) != fmt.Sprint(started) {
		t.Errorf("second up replaced the processes: %v, then %v", started, now)
	}

	run("down")
	for _, pid := range started {
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			t.Errorf("pid %d still runs after down", pid)
		}
	}
	for _, addr := range []string{sinkAddr, promAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after down", addr)
		}
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
