// Package e2e holds tests of the repository as a whole: stack.yml against the folders, the
// image builds (as faas-cli shrinkwrap contexts, built offline exactly as the Dockerfile does),
// and later the running platform.
package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
)

// Root finds the repository's top folder (the one holding go.work) from the working directory.
func Root() (string, error) { return platform.Root() }

// FunctionDirs lists functions/<context>/<function> folders relative to root.
func FunctionDirs(root string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(root, "functions", "*", "*", "go.mod"))
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(matches))
	for _, m := range matches {
		rel, err := filepath.Rel(root, filepath.Dir(m))
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, rel)
	}
	return dirs, nil
}

var (
	faasCLIOnce sync.Once
	faasCLIPath string
	faasCLIErr  error
)

// FaasCLI builds the pinned faas-cli (the tools module's `tool`) once per test binary and
// returns its path, so tests can run it in folders outside the workspace.
func FaasCLI(t testing.TB, root string) string {
	t.Helper()
	faasCLIOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fc-faas-cli-")
		if err != nil {
			faasCLIErr = err
			return
		}
		faasCLIPath = filepath.Join(dir, "faas-cli")
		cmd := exec.Command("go", "build", "-o", faasCLIPath, "github.com/openfaas/faas-cli")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			faasCLIErr = errors.New("build faas-cli: " + err.Error() + "\n" + string(out))
		}
	})
	if faasCLIErr != nil {
		t.Fatal(faasCLIErr)
	}
	return faasCLIPath
}
