package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if faasCLIPath != "" {
		_ = os.RemoveAll(filepath.Dir(faasCLIPath)) // a temp folder of our own; nothing to report
	}
	os.Exit(code)
}
