package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/auth"
)

// copyTree copies the parts of the repo an image build sees into dst.
func copyTree(t *testing.T, root, dst string) {
	t.Helper()
	for _, p := range []string{"stack.yml", "template", "functions", "shared", "migrations", "infra/env"} {
		cmd := exec.Command("cp", "-a", "--parents", p, dst)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", p, err, out)
		}
	}
}

// TestShrinkwrapBuilds runs `faas-cli build --shrinkwrap` on stack.yml and then builds every
// function's context exactly as its Dockerfile does (build.sh: vet, unit tests, static build),
// offline, in a copy of the context where the repo is out of reach, and starts each binary to
// see it answer its health check. A context that passes here builds into an image.
func TestShrinkwrapBuilds(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	copyTree(t, root, work)
	faas := exec.Command(FaasCLI(t, root), "build", "--shrinkwrap", "-f", "stack.yml")
	faas.Dir = work
	if out, err := faas.CombinedOutput(); err != nil {
		t.Fatalf("faas-cli build --shrinkwrap: %v\n%s", err, out)
	}
	s := loadStack(t, root, nil)
	bin := t.TempDir()
	for name := range s.Functions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The context alone, away from the repo: replace paths that point back into the
			// repo (../../../shared) must not be what makes it build.
			ctxDir := filepath.Join(t.TempDir(), name)
			if out, err := exec.Command("cp", "-a", filepath.Join(work, "build", name), ctxDir).CombinedOutput(); err != nil {
				t.Fatalf("copy context: %v\n%s", err, out)
			}
			if _, err := os.Stat(filepath.Join(ctxDir, "Dockerfile")); err != nil {
				t.Fatalf("context has no Dockerfile: %v", err)
			}
			out := filepath.Join(bin, name)
			cmd := exec.Command("sh", "build.sh", out)
			cmd.Dir = ctxDir
			cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build.sh: %v\n%s", err, b)
			}
			checkStarts(t, out, s.Functions[name].Secrets)
		})
	}
}

// checkStarts runs a built function with throwaway values of the secrets stack.yml gives it
// and waits for its health check, then stops it with a signal and expects a clean exit.
func checkStarts(t *testing.T, binary string, names []string) {
	t.Helper()
	secrets := t.TempDir()
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(secrets, name), secretValue(t, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "PORT=0", "BIND_ADDR=127.0.0.1", "SECRETS_DIR="+secrets)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, `"addr":"`); i >= 0 && strings.Contains(line, `"listening"`) {
				rest := line[i+len(`"addr":"`):]
				addr <- rest[:strings.IndexByte(rest, '"')]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		done <- err
		t.Fatalf("function exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("function did not report its address within 30s")
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		t.Fatalf("bad address %q", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/_/health", a), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health check answered %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("function did not exit cleanly on a signal: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("function did not stop within 20s of a signal")
	}
}

// secretValue makes a well-formed throwaway value for a secret: nothing here reaches a real
// database or signs a real token.
func secretValue(t *testing.T, name string) []byte {
	t.Helper()
	switch name {
	case "database-url":
		return []byte("postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	case "jwt-signing-keys", "jwt-public-keys":
		priv, err := auth.NewEd25519PEM()
		if err != nil {
			t.Fatal(err)
		}
		if name == "jwt-signing-keys" {
			return priv
		}
		keys, err := auth.ParsePrivateKeys(priv)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := auth.EncodePublicKeys([]auth.PublicKey{keys[0].PublicKey})
		if err != nil {
			t.Fatal(err)
		}
		return pub
	default:
		return []byte(rand.Text())
	}
}
