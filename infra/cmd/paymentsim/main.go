// Command paymentsim runs the payment provider simulator on loopback for development (see
// paymentsim.Config for its PAYMENTSIM_* settings).
package main

import (
	"context"
	"log/slog"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/paymentsim"
	"github.com/faas-commerce/faas-commerce/infra/simhttp"
)

func main() {
	simhttp.Main("paymentsim", true, func(ctx context.Context, log *slog.Logger, env envconfig.Lookuper) error {
		cfg, err := paymentsim.LoadConfig(ctx, env)
		if err != nil {
			return err
		}
		log.Info("paymentsim listening", "addr", cfg.Addr)
		return simhttp.Serve(ctx, cfg.Addr, simhttp.Observe(paymentsim.Handler(cfg)))
	})
}
