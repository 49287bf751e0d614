package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type env struct {
	Timeout time.Duration `env:"TIMEOUT, default=3s"`
	Name    string        `env:"NAME, required"`
}

type secrets struct {
	DatabaseURL string `env:"database_url, required"`
	APIKey      string `env:"api_key"`
}

func writeSecret(t *testing.T, dir, name, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "database-url", "postgres://u:p@h/db\n")
	var e env
	var s secrets
	if err := FromMap(map[string]string{"NAME": "fn"}, dir).Load(t.Context(), &e, &s); err != nil {
		t.Fatal(err)
	}
	if e.Timeout != 3*time.Second || e.Name != "fn" {
		t.Errorf("env %+v", e)
	}
	if s.DatabaseURL != "postgres://u:p@h/db" || s.APIKey != "" {
		t.Errorf("secrets %+v", s)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "database-url", "x")
	cases := []struct {
		name    string
		env     map[string]string
		dir     string
		mention string
	}{
		{"missing env", map[string]string{}, dir, "NAME"},
		{"bad duration", map[string]string{"NAME": "a", "TIMEOUT": "soon"}, dir, "TIMEOUT"},
		{"missing secret", map[string]string{"NAME": "a"}, t.TempDir(), "database_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := FromMap(c.env, c.dir).Load(t.Context(), &env{}, &secrets{})
			if err == nil || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("error %v, want one naming %s", err, c.mention)
			}
		})
	}
}

func TestSecretsNeverComeFromEnv(t *testing.T) {
	t.Setenv("database_url", "from-env")
	t.Setenv("DATABASE_URL", "from-env")
	t.Setenv(SecretsDirEnv, t.TempDir())
	err := FromOS().Load(t.Context(), nil, &secrets{})
	if err == nil {
		t.Fatal("a secret was taken from the environment")
	}
}

func TestSecretsDirDefault(t *testing.T) {
	t.Setenv(SecretsDirEnv, "")
	if d := FromOS().SecretsDir; d != DefaultSecretsDir {
		t.Fatalf("default secrets dir %q", d)
	}
}
