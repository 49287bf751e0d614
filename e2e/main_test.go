package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
)

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Cleanup()
	if faasCLIPath != "" {
		_ = os.RemoveAll(filepath.Dir(faasCLIPath)) // a temp folder of our own; nothing to report
	}
	os.Exit(code)
}
