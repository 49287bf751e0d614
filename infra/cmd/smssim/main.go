// Command smssim runs the SMS provider simulator on loopback for development (see
// smssim.Config for its SMSSIM_* settings).
package main

import (
	"context"
	"log/slog"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/simhttp"
	"github.com/faas-commerce/faas-commerce/infra/smssim"
)

func main() {
	simhttp.Main("smssim", true, func(ctx context.Context, log *slog.Logger, env envconfig.Lookuper) error {
		cfg, err := smssim.LoadConfig(ctx, env)
		if err != nil {
			return err
		}
		log.Info("smssim listening", "addr", cfg.Addr)
		return simhttp.Serve(ctx, cfg.Addr, simhttp.Observe(smssim.Handler(cfg)))
	})
}
