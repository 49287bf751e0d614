// Command mailsim runs the SMTP catcher on loopback for development: SMTP on MAILSIM_SMTP_ADDR
// and the list of received mail on MAILSIM_HTTP_ADDR (GET /v1/messages?to=ADDRESS).
package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/mailsim"
	"github.com/faas-commerce/faas-commerce/infra/simhttp"
)

func main() {
	simhttp.Main("mailsim", true, func(ctx context.Context, log *slog.Logger, env envconfig.Lookuper) error {
		cfg, err := mailsim.LoadConfig(ctx, env)
		if err != nil {
			return err
		}
		s, err := mailsim.Listen(cfg)
		if err != nil {
			return err
		}
		log.Info("mailsim listening", "smtp", s.Addr(), "http", cfg.HTTPAddr)
		return errors.Join(simhttp.Serve(ctx, cfg.HTTPAddr, simhttp.Observe(s.Handler())), s.Close())
	})
}
