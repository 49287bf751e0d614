package function

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/config"
)

// The function's behaviour is tested against PostgreSQL and the payment simulator in
// ./simtest; this file holds the tests that need neither, which the image build also runs.

func TestConfig(t *testing.T) {
	secrets := t.TempDir()
	cases := []struct {
		name   string
		env    map[string]string
		secret bool
		want   string
	}{
		{"no API key", map[string]string{"PAYMENT_PROVIDER_URL": "http://127.0.0.1:1"}, false, "payment_api_key"},
		{"not a URL", map[string]string{"PAYMENT_PROVIDER_URL": "127.0.0.1:1"}, true, "PAYMENT_PROVIDER_URL"},
		{"bad timeout", map[string]string{"PAYMENT_PROVIDER_URL": "http://127.0.0.1:1", "PAYMENT_PROVIDER_TIMEOUT": "soon"}, true, "PAYMENT_PROVIDER_TIMEOUT"},
	}
	if err := os.WriteFile(filepath.Join(secrets, "payment-api-key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewProvider(context.Background(), config.FromMap(nil, secrets)); err != nil {
		t.Fatalf("defaults (the dev simulator): %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.secret {
				dir = secrets
				if err := os.WriteFile(filepath.Join(dir, "payment-api-key"), []byte("k"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := NewProvider(context.Background(), config.FromMap(c.env, dir))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}
