package provider_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNoFunctionProcessOutlivesAKilledProvider runs the provider program, kills it with
// SIGKILL (no chance to clean up) and expects its function processes to die with it.
func TestNoFunctionProcessOutlivesAKilledProvider(t *testing.T) {
	port := freeTCPPort(t)
	state := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(bins.provider)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		fmt.Sprintf("PROVIDER_ADDR=127.0.0.1:%d", port),
		"PROVIDER_STATE_DIR=" + state,
		"FUNCTIONS_BIN_DIR=" + binDir(t),
		"ASYNC_AMQP_URL=",
	}
	startProcess(t, cmd, "provider")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))

	h := &harness{t: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port), User: "admin"}
	h.Password = readFile(t, filepath.Join(state, "auth", "basic-auth-password"))
	h.deploy(echoSpec("orphan", map[string]string{"com.openfaas.scale.min": "2"}, nil))
	pids := instancePIDs(waitReady(t, h, "orphan", 2))

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, pid := range pids {
			if alive(pid) {
				return fmt.Errorf("function process %d outlived the provider", pid)
			}
		}
		return nil
	})

	// the log is JSON lines, one object per line
	f, err := os.Open(cmd.Stdout.(*os.File).Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "{") {
			t.Errorf("provider log line is not JSON: %s", line)
		}
	}
}
