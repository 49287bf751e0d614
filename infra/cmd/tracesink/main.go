// Command tracesink collects trace spans over Zipkin's v2 HTTP API and serves them back, from
// memory (see tracesink.Config for its TRACESINK_* settings). `make up` runs it on
// 127.0.0.1:9411, where the functions' Zipkin exporter sends by default. It traces nothing
// itself: its spans would be sent to itself.
package main

import (
	"context"
	"log/slog"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/simhttp"
	"github.com/faas-commerce/faas-commerce/infra/tracesink"
)

func main() {
	simhttp.Main("tracesink", false, func(ctx context.Context, log *slog.Logger, env envconfig.Lookuper) error {
		cfg, err := tracesink.LoadConfig(ctx, env)
		if err != nil {
			return err
		}
		log.Info("tracesink listening", "addr", cfg.Addr, "max_traces", cfg.MaxTraces)
		return simhttp.Serve(ctx, cfg.Addr, tracesink.Handler(tracesink.NewStore(cfg), cfg.MaxBodyBytes))
	})
}
