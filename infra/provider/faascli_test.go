package provider_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// faasCLI runs the pinned faas-cli with its own HOME (its login config lives there).
type faasCLI struct {
	t       *testing.T
	home    string
	gateway string
}

func (c faasCLI) run(stdin string, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(bins.faasCLI, append(args, "--gateway", c.gateway)...)
	cmd.Dir = c.home
	cmd.Env = []string{"HOME=" + c.home, "PATH=/usr/bin:/bin", "NO_COLOR=1"}
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c faasCLI) must(stdin string, args ...string) string {
	c.t.Helper()
	out, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("faas-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestFaasCLIAgainstTheProvider(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	cli := faasCLI{t: t, home: t.TempDir(), gateway: h.URL}
	exerciseFaasCLI(t, cli, h.Password)
}

// exerciseFaasCLI drives every faas-cli command the project uses against gateway.
func exerciseFaasCLI(t *testing.T, cli faasCLI, password string) {
	if out, err := cli.run("", "list"); err == nil {
		t.Fatalf("list before login succeeded: %s", out)
	}
	cli.must(password, "login", "--username", "admin", "--password-stdin")

	cli.must("", "secret", "create", "api-key", "--from-literal", "k-123")
	if out := cli.must("", "secret", "list"); !strings.Contains(out, "api-key") {
		t.Fatalf("secret list: %s", out)
	}
	cli.must("", "deploy", "--image", "ghcr.io/faas-commerce/echo:dev", "--name", "echo",
		"--env", "GREETING=hi", "--label", "com.openfaas.scale.min=1", "--secret", "api-key")

	eventually(t, 20*time.Second, func() error {
		out, err := cli.run("", "describe", "echo")
		if err != nil || !strings.Contains(out, "Status:") || !strings.Contains(out, "Ready") {
			return fmt.Errorf("describe: %v %s", err, out)
		}
		return nil
	})
	if out := cli.must("", "list"); !strings.Contains(out, "echo") {
		t.Fatalf("list: %s", out)
	}
	if out := cli.must("ping", "invoke", "echo"); strings.TrimSpace(out) != "ping" {
		t.Fatalf("invoke: %q", out)
	}
	if out := cli.must("", "invoke", "echo", "--query", "secret=api-key"); strings.TrimSpace(out) != "k-123" {
		t.Fatalf("function read secret through invoke: %q", out)
	}
	cli.must("", "invoke", "echo", "--query", "log=from-the-test")
	eventually(t, 10*time.Second, func() error {
		out, err := cli.run("", "logs", "echo", "--tail=false", "--lines", "20")
		if err != nil || !strings.Contains(out, "from-the-test") {
			return fmt.Errorf("logs: %v %s", err, out)
		}
		return nil
	})
	cli.must("", "remove", "echo")
	cli.must("", "secret", "remove", "api-key")
	eventually(t, 10*time.Second, func() error {
		if out := cli.must("", "list"); strings.Contains(out, "echo") {
			return fmt.Errorf("list after remove: %s", out)
		}
		return nil
	})
	if out := cli.must("", "secret", "list"); strings.Contains(out, "api-key") {
		t.Fatalf("secret list after remove: %s", out)
	}
}
