// Command provider is the local OpenFaaS provider: it serves the OpenFaaS API and runs each
// function as its own process. Configuration is read from the environment (see
// provider.Config and infra/README.md).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/provider"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	slog.SetDefault(log) // the standard logger (used by faas-provider's log handler) writes JSON too
	if err := run(log); err != nil {
		log.Error("provider failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := provider.LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	var tcfg telemetry.Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &tcfg, Lookuper: envconfig.OsLookuper()}); err != nil {
		return err
	}
	stopTracing, err := telemetry.Setup(ctx, "provider", tcfg)
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }() // best effort: the last spans on the way out
	p, err := provider.New(cfg, log)
	if err != nil {
		return err
	}
	return p.Run(ctx, nil)
}
