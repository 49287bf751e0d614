// Package platform starts the whole platform for a test, as `make up` does but on free ports,
// in its own state folder, its own database and its own RabbitMQ vhost, so tests run beside a
// `make up` and beside each other: the local provider with every function of stack.yml, the
// outbox relay, the RabbitMQ connector, the payment/SMS/SMTP simulators and the trace sink.
// Every process it starts is stopped when the test ends.
package platform

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// programs are the long-running programs of the platform, by binary name.
var programs = map[string]string{
	"provider":           "./infra/cmd/provider",
	"paymentsim":         "./infra/cmd/paymentsim",
	"smssim":             "./infra/cmd/smssim",
	"mailsim":            "./infra/cmd/mailsim",
	"tracesink":          "./infra/cmd/tracesink",
	"relay":              "./connectors/cmd/relay",
	"rabbitmq-connector": "./connectors/cmd/rabbitmq-connector",
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Root finds the repository's top folder (the one holding go.work) from the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}

// Build builds every function (as its image would: faas-cli shrinkwrap, then build.sh) and
// every program into one folder, once per test binary; Cleanup removes it.
func Build() (string, error) {
	buildOnce.Do(func() { binDir, buildErr = build() })
	return binDir, buildErr
}

// Cleanup removes what Build made; call it from TestMain after the tests ran.
func Cleanup() {
	if binDir != "" {
		_ = os.RemoveAll(filepath.Dir(binDir)) // our own temp folder
	}
}

func build() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "fc-platform-build-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	run := func(dir string, env []string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	// The programs build from the workspace.
	for name, pkg := range programs {
		wg.Go(func() {
			if err := run(root, nil, "go", "build", "-o", filepath.Join(bin, name), pkg); err != nil {
				fail(err)
			}
		})
	}
	// The functions build exactly as `make build` builds them.
	wg.Go(func() {
		if err := run(root, nil, "go", "build", "-o", filepath.Join(work, "faas-cli"), "github.com/openfaas/faas-cli"); err != nil {
			fail(err)
			return
		}
		src := filepath.Join(work, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			fail(err)
			return
		}
		for _, p := range []string{"stack.yml", "template", "functions", "shared", "migrations", "infra/env"} {
			if err := run(root, nil, "cp", "-a", "--parents", p, src); err != nil {
				fail(err)
				return
			}
		}
		if err := run(src, nil, filepath.Join(work, "faas-cli"), "build", "--shrinkwrap", "-f", "stack.yml"); err != nil {
			fail(err)
			return
		}
		contexts, err := filepath.Glob(filepath.Join(src, "build", "*"))
		if err != nil {
			fail(err)
			return
		}
		for _, ctx := range contexts {
			name := filepath.Base(ctx)
			if err := run(ctx, []string{"SKIP_TESTS=1", "GOWORK="}, "sh", "build.sh", filepath.Join(bin, name)); err != nil {
				fail(err)
				return
			}
		}
	})
	wg.Wait()
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return bin, nil
}
