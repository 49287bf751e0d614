// Command tracesink collects trace spans over Zipkin's v2 HTTP API and serves them back, from
// memory (see tracesink.Config for its TRACESINK_* settings). `make up` runs it on
// 127.0.0.1:9411, where the functions' Zipkin exporter sends by default.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/simhttp"
	"github.com/faas-commerce/faas-commerce/infra/tracesink"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(log); err != nil {
		log.Error("tracesink failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := tracesink.LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	log.Info("tracesink listening", "addr", cfg.Addr, "max_traces", cfg.MaxTraces)
	return simhttp.Serve(ctx, cfg.Addr, tracesink.Handler(tracesink.NewStore(cfg), cfg.MaxBodyBytes))
}
