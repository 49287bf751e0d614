// Package config loads a program's typed configuration: plain settings from the environment and
// secrets from files in the secrets directory (/var/openfaas/secrets in OpenFaaS, the local
// provider's folder otherwise). Both use go-envconfig tags, so `required` and `default` mean the
// same in both places. For secrets the key is the secret's file name with its dashes written as
// underscores (go-envconfig keys are identifiers; OpenFaaS secret names are DNS labels), so
// `env:"database_url, required"` reads the secret file database-url.
package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// DefaultSecretsDir is where OpenFaaS mounts a function's secrets.
const DefaultSecretsDir = "/var/openfaas/secrets"

// SecretsDirEnv names the variable that overrides the secrets directory.
const SecretsDirEnv = "SECRETS_DIR"

// Source is where configuration comes from.
type Source struct {
	// Env looks up environment variables.
	Env envconfig.Lookuper
	// SecretsDir holds one file per secret, named after the secret.
	SecretsDir string
}

// FromOS reads the process environment and the secrets directory it names (or the default).
func FromOS() Source {
	dir := os.Getenv(SecretsDirEnv)
	if dir == "" {
		dir = DefaultSecretsDir
	}
	return Source{Env: envconfig.OsLookuper(), SecretsDir: dir}
}

// FromMap is for tests: env from a map, secrets from dir.
func FromMap(env map[string]string, secretsDir string) Source {
	return Source{Env: envconfig.MapLookuper(env), SecretsDir: secretsDir}
}

// Load fills env (a pointer to a struct with `env` tags) from the environment and, when
// secrets is not nil, fills it from the secret files. A missing required value or a value that
// does not parse is an error naming the variable or secret.
func (s Source) Load(ctx context.Context, env, secrets any) error {
	if env != nil {
		l := &lastKey{Lookuper: s.Env}
		if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: env, Lookuper: l}); err != nil {
			return fmt.Errorf("environment variable %s: %w", l.key, err)
		}
	}
	if secrets != nil {
		l := secretLookuper{dir: s.SecretsDir}
		if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: secrets, Lookuper: &l}); err != nil {
			return fmt.Errorf("secrets in %s: %w", s.SecretsDir, err)
		}
		if l.err != nil {
			return fmt.Errorf("secrets in %s: %w", s.SecretsDir, l.err)
		}
	}
	return nil
}

// lastKey remembers the last key looked up: go-envconfig looks a field up and then decodes
// it, so when processing fails this names the variable at fault (its own error names the Go
// field).
type lastKey struct {
	envconfig.Lookuper
	key string
}

func (l *lastKey) Lookup(key string) (string, bool) {
	l.key = key
	return l.Lookuper.Lookup(key)
}

// secretLookuper reads secrets/<key>; a missing file is an unset value, any other read
// failure is kept and reported after processing.
type secretLookuper struct {
	dir string
	err error
}

func (l *secretLookuper) Lookup(key string) (string, bool) {
	if key == "" || strings.ContainsAny(key, `/\`) || key == "." || key == ".." {
		l.err = errors.Join(l.err, fmt.Errorf("invalid secret name %q", key))
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(l.dir, strings.ReplaceAll(key, "_", "-")))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		l.err = errors.Join(l.err, fmt.Errorf("read secret %s: %w", key, err))
		return "", false
	}
	return strings.TrimRight(string(b), "\r\n"), true
}
