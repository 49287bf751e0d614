package relay

import (
	"context"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/pg"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	var cfg Config
	if err := config.FromMap(map[string]string{}, t.TempDir()).Load(context.Background(), &cfg, nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Exchange != events.Exchange || cfg.BatchSize != 256 || cfg.MetricsAddr != "127.0.0.1:9471" {
		t.Errorf("defaults: %+v", cfg)
	}
	var secrets pg.Secrets
	if err := config.FromMap(nil, t.TempDir()).Load(context.Background(), nil, &secrets); err == nil {
		t.Error("a missing database-url secret was accepted")
	}
	for name, env := range map[string]map[string]string{
		"batch":    {"RELAY_BATCH_SIZE": "0"},
		"attempts": {"RELAY_MAX_ATTEMPTS": "0"},
		"cap":      {"RELAY_RETRY_BASE": "10s", "RELAY_RETRY_CAP": "1s"},
	} {
		var c Config
		if err := config.FromMap(env, t.TempDir()).Load(context.Background(), &c, nil); err != nil {
			t.Fatal(err)
		}
		if c.Validate() == nil {
			t.Errorf("%s: accepted %v", name, env)
		}
	}
}
