// Command rabbitmq-connector invokes functions for the events on RabbitMQ (see
// connectors/rabbitmq), and lists and replays dead-lettered messages:
//
//	rabbitmq-connector                                   run the connector
//	rabbitmq-connector dlq list [--function F]           dead letters as JSON lines
//	rabbitmq-connector dlq replay --function F (--message-id ID | --all)
//
// Environment: see rabbitmq.Config. Secrets (files in SECRETS_DIR, optional):
// basic-auth-user and basic-auth-password for the gateway's /system API.
// auth-client-id and auth-client-secret (with AUTH_TOKEN_URL) to invoke functions with a
// service access token.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/connectors/internal/httpserve"
	"github.com/faas-commerce/faas-commerce/connectors/rabbitmq"
	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/logs"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

const usage = `usage:
  rabbitmq-connector                                        run the connector
  rabbitmq-connector dlq list [--function F]                list dead-lettered messages (JSON lines)
  rabbitmq-connector dlq replay --function F (--message-id ID | --all)
                                                            move dead letters back to the function's queue
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rabbitmq-connector:", err)
		os.Exit(1)
	}
}

// program is the loaded configuration and its clients.
type program struct {
	cfg    rabbitmq.Config
	lister *rabbitmq.Lister
	log    *slog.Logger
	// invokeClient calls functions; with the secrets auth-client-id and auth-client-secret it
	// carries a service access token (OAuth2 client credentials) on every invocation.
	invokeClient *http.Client
}

func load(ctx context.Context) (*program, error) {
	var cfg rabbitmq.Config
	var secrets rabbitmq.Secrets
	src := config.FromOS()
	if err := src.Load(ctx, &cfg, &secrets); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	creds, err := cfg.Credentials(secrets)
	if err != nil {
		return nil, err
	}
	lister, err := rabbitmq.NewLister(cfg.GatewayURL, &http.Client{Timeout: 10 * time.Second}, creds, cfg.DefaultConcurrency)
	if err != nil {
		return nil, err
	}
	invokeClient, err := serviceClient(ctx, src)
	if err != nil {
		return nil, err
	}
	return &program{cfg: cfg, lister: lister, log: logs.New(os.Stdout, "rabbitmq-connector", cfg.LogLevel), invokeClient: invokeClient}, nil
}

// serviceClient returns a client that authenticates as the connector's OAuth2 client when its
// credentials are among the secrets, and a plain client otherwise (functions that check no
// token, as on a stock OpenFaaS setup).
func serviceClient(ctx context.Context, src config.Source) (*http.Client, error) {
	if _, err := os.Stat(filepath.Join(src.SecretsDir, "auth-client-id")); errors.Is(err, fs.ErrNotExist) {
		return &http.Client{}, nil
	}
	cc, err := auth.ClientCredentialsFromEnv(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("service credentials: %w", err)
	}
	return &http.Client{Transport: cc}, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		p, err := load(ctx)
		if err != nil {
			return err
		}
		return p.serve(ctx)
	}
	if args[0] != "dlq" || len(args) < 2 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("dlq "+args[1], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fn := fs.String("function", "", "function name (NAME or NAME.NAMESPACE)")
	id := fs.String("message-id", "", "replay only this message")
	all := fs.Bool("all", false, "replay every message")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() > 0 {
		return errors.New(usage)
	}
	switch args[1] {
	case "list":
		if *id != "" || *all {
			return errors.New(usage)
		}
		p, err := load(ctx)
		if err != nil {
			return err
		}
		return p.list(ctx, *fn, out)
	case "replay":
		if *fn == "" || (*id == "") == !*all {
			return errors.New(usage)
		}
		p, err := load(ctx)
		if err != nil {
			return err
		}
		return p.replay(ctx, *fn, *id, out)
	default:
		return errors.New(usage)
	}
}

func (p *program) serve(ctx context.Context) error {
	stopTracing, err := telemetry.Setup(ctx, "rabbitmq-connector", p.cfg.Telemetry)
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }() // best effort: the last spans on the way out
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	inv, err := rabbitmq.NewInvoker(p.cfg.GatewayURL, p.invokeClient, nil, p.cfg.InvokeTimeout)
	if err != nil {
		return err
	}
	c := rabbitmq.New(p.cfg, p.lister, inv, p.log, rabbitmq.NewMetrics(reg))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Connected() {
			http.Error(w, "not connected to rabbitmq", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n")) // a failed write to a health probe needs no handling
	})
	mux.HandleFunc("POST /refresh", func(w http.ResponseWriter, _ *http.Request) {
		c.Refresh()
		w.WriteHeader(http.StatusAccepted)
	})

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				c.Refresh()
			}
		}
	}()
	httpErr := make(chan error, 1)
	go func() {
		err := httpserve.Run(ctx, p.cfg.MetricsAddr, mux)
		cancel() // without its listener the connector stops too
		httpErr <- err
	}()
	p.log.InfoContext(ctx, "rabbitmq-connector starting", "metrics_addr", p.cfg.MetricsAddr, "exchange", p.cfg.Exchange, "queue_prefix", p.cfg.QueuePrefix)
	runErr := c.Run(ctx)
	cancel()
	err = errors.Join(runErr, <-httpErr)
	p.log.InfoContext(ctx, "rabbitmq-connector stopped")
	return err
}

// function turns a --function value into a Function (NAME means the default namespace).
func (p *program) function(name string) rabbitmq.Function {
	n, ns, found := strings.Cut(name, ".")
	if !found {
		ns = p.cfg.DefaultNamespace
	}
	return rabbitmq.Function{Name: n, Namespace: ns}
}

func (p *program) dial() (*amqp.Connection, error) {
	conn, err := amqp.Dial(p.cfg.AMQPURL)
	if err != nil {
		return nil, fmt.Errorf("connect to rabbitmq: %w", err)
	}
	return conn, nil
}

func (p *program) list(ctx context.Context, name string, out io.Writer) error {
	var fns []rabbitmq.Function
	if name != "" {
		fns = []rabbitmq.Function{p.function(name)}
	} else {
		var err error
		if fns, err = p.lister.List(ctx); err != nil {
			return err
		}
	}
	conn, err := p.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	enc := json.NewEncoder(out)
	for _, f := range fns {
		dls, err := rabbitmq.ListDLQ(ctx, conn, p.cfg, f)
		if errors.Is(err, rabbitmq.ErrNoDLQ) && name == "" {
			continue
		}
		if err != nil {
			return err
		}
		for _, dl := range dls {
			if err := enc.Encode(dl); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
	return nil
}

func (p *program) replay(ctx context.Context, name, id string, out io.Writer) error {
	conn, err := p.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	f := p.function(name)
	n, err := rabbitmq.ReplayDLQ(ctx, conn, p.cfg, f, id)
	if _, werr := fmt.Fprintf(out, "moved %d message(s) from %s to %s\n", n, p.cfg.DLQ(f), p.cfg.Queue(f)); werr != nil {
		return errors.Join(err, werr)
	}
	if err == nil && id != "" && n == 0 {
		return fmt.Errorf("message %s is not in %s", id, p.cfg.DLQ(f))
	}
	return err
}
