// Command mailsim runs the SMTP catcher on loopback for development: SMTP on MAILSIM_SMTP_ADDR
// and the list of received mail on MAILSIM_HTTP_ADDR (GET /v1/messages?to=ADDRESS).
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/mailsim"
	"github.com/faas-commerce/faas-commerce/infra/simhttp"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(log); err != nil {
		log.Error("mailsim failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := mailsim.LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	s, err := mailsim.Listen(cfg)
	if err != nil {
		return err
	}
	log.Info("mailsim listening", "smtp", s.Addr(), "http", cfg.HTTPAddr)
	stopTracing, err := simhttp.Tracing(ctx, "mailsim", envconfig.OsLookuper())
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }() // best effort: the last spans on the way out
	return errors.Join(simhttp.Serve(ctx, cfg.HTTPAddr, simhttp.Observe(s.Handler())), s.Close())
}
