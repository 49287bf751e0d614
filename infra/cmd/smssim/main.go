// Command smssim runs the SMS provider simulator on loopback for development (see
// smssim.Config for its SMSSIM_* settings).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/simhttp"
	"github.com/faas-commerce/faas-commerce/infra/smssim"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(log); err != nil {
		log.Error("smssim failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := smssim.LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	log.Info("smssim listening", "addr", cfg.Addr)
	stopTracing, err := simhttp.Tracing(ctx, "smssim", envconfig.OsLookuper())
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }() // best effort: the last spans on the way out
	return simhttp.Serve(ctx, cfg.Addr, simhttp.Observe(smssim.Handler(cfg)))
}
