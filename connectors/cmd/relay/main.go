// Command relay publishes the transactional outbox to RabbitMQ (see connectors/relay).
//
// Environment: see relay.Config. Secret (a file in SECRETS_DIR): database-url.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faas-commerce/faas-commerce/connectors/internal/httpserve"
	"github.com/faas-commerce/faas-commerce/connectors/relay"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/logs"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var cfg relay.Config
	var secrets pg.Secrets
	if err := config.FromOS().Load(ctx, &cfg, &secrets); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := logs.New(os.Stdout, "relay", cfg.LogLevel)
	cfg.Telemetry.SampleRatio = 0 // continue traces, start none (see relay.Config)
	stopTracing, err := telemetry.Setup(ctx, "relay", cfg.Telemetry)
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }() // best effort: the last spans on the way out
	pool, err := pg.Connect(ctx, secrets.DatabaseURL, cfg.Pool)
	if err != nil {
		return err
	}
	defer pool.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := relay.NewMetrics(reg, pool, cfg.MaxAttempts)
	r := relay.New(pool, cfg.AMQPURL, cfg.Settings(), log, metrics)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.Connected() {
			http.Error(w, "not connected to rabbitmq", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n")) // a failed write to a health probe needs no handling
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() {
		err := httpserve.Run(ctx, cfg.MetricsAddr, mux)
		cancel() // without its listener the relay stops too
		httpErr <- err
	}()
	log.InfoContext(ctx, "relay starting", "metrics_addr", cfg.MetricsAddr, "exchange", cfg.Exchange, "batch_size", cfg.BatchSize)
	runErr := r.Run(ctx)
	cancel()
	err = errors.Join(runErr, <-httpErr)
	log.InfoContext(ctx, "relay stopped")
	return err
}
