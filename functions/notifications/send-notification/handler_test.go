package function

import (
	"context"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/config"
)

// The function's behaviour is tested against PostgreSQL, the SMTP catcher and the SMS simulator
// in ./simtest; this file holds the tests that need none of them, which the image build also runs.

func TestConfig(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"SMS provider not a URL", map[string]string{"SMS_PROVIDER_URL": "localhost"}, "SMS_PROVIDER_URL"},
		{"SMTP address without port", map[string]string{"SMS_PROVIDER_URL": "http://127.0.0.1:1", "SMTP_ADDR": "localhost"}, "SMTP_ADDR"},
		{"bad sender", map[string]string{"SMS_PROVIDER_URL": "http://127.0.0.1:1", "SMTP_FROM": "Shop <a@b.c>"}, "SMTP_FROM"},
		{"bad timeout", map[string]string{"SMS_PROVIDER_URL": "http://127.0.0.1:1", "SMTP_TIMEOUT": "0s"}, "SMTP_TIMEOUT"},
	}
	if _, err := NewNotifier(context.Background(), config.FromMap(nil, t.TempDir())); err != nil {
		t.Fatalf("defaults (the dev simulators): %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewNotifier(context.Background(), config.FromMap(c.env, t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}
