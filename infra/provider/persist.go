package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/openfaas/faas-provider/types"
)

// Deployments are kept in StateDir/deployments so that a restarted provider serves the same
// functions (and async calls queued for them) without a new deploy.

func (p *Provider) deploymentsDir() string { return filepath.Join(p.stateDir, "deployments") }

func (p *Provider) saveDeployment(spec types.FunctionDeployment) {
	if err := os.MkdirAll(p.deploymentsDir(), 0o700); err != nil {
		p.log.Warn("save deployment", "function", spec.Service, "error", err)
		return
	}
	b, err := json.Marshal(spec)
	if err == nil {
		err = writeFileAtomic(filepath.Join(p.deploymentsDir(), spec.Service+".json"), b)
	}
	if err != nil {
		p.log.Warn("save deployment", "function", spec.Service, "error", err)
	}
}

func (p *Provider) forgetDeployment(name string) {
	if err := os.Remove(filepath.Join(p.deploymentsDir(), name+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.log.Warn("forget deployment", "function", name, "error", err)
	}
}

// restore deploys what an earlier run had deployed; a deployment that no longer validates (its
// binary is gone) is logged and skipped.
func (p *Provider) restore() error {
	entries, err := os.ReadDir(p.deploymentsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read deployments: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.deploymentsDir(), e.Name()))
		if err != nil {
			return fmt.Errorf("read deployment %s: %w", e.Name(), err)
		}
		var spec types.FunctionDeployment
		if err := json.Unmarshal(b, &spec); err != nil {
			p.log.Warn("skip unreadable deployment", "file", e.Name(), "error", err)
			continue
		}
		d, err := p.validate(spec)
		if err != nil {
			p.log.Warn("skip deployment that no longer validates", "function", spec.Service, "error", err)
			continue
		}
		f := newFunction(p, d)
		p.mu.Lock()
		p.functions[f.name] = f
		p.mu.Unlock()
		f.setDesired(d.scale.min)
		p.log.Info("function restored", "function", f.name, "replicas", d.scale.min)
	}
	return nil
}
