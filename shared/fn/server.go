package fn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/logs"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Lazy builds a function's App once per process. The template's main builds every Lazy before
// it reports healthy, so a bad configuration is a start-up error; in tests the App is built on
// first use.
type Lazy struct {
	build func(context.Context) (*App, error)
	once  sync.Once
	app   *App
	err   error
}

var (
	lazyMu  sync.Mutex
	lazies  []*Lazy
	errInit = fault.New(fault.Unavailable, "not_ready", "the function could not start; see its logs")
)

// setupTimeout bounds how long building a function's dependencies may take.
const setupTimeout = 30 * time.Second

// Setup registers how to build the function's App. Call it in a package-level var:
//
//	var app = fn.Setup(func(ctx context.Context) (*fn.App, error) { ... })
//	func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }
func Setup(build func(context.Context) (*App, error)) *Lazy {
	l := &Lazy{build: build}
	lazyMu.Lock()
	lazies = append(lazies, l)
	lazyMu.Unlock()
	return l
}

// Get builds the App on first use and returns it, or the build error.
func (l *Lazy) Get(ctx context.Context) (*App, error) {
	l.once.Do(func() {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), setupTimeout)
		defer cancel()
		l.app, l.err = l.build(bctx)
	})
	return l.app, l.err
}

// Handle serves req with the built App.
func (l *Lazy) Handle(req handler.Request) (handler.Response, error) {
	ctx := req.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	app, err := l.Get(ctx)
	if err != nil {
		slog.ErrorContext(ctx, "function not ready", "error", err)
		body := []byte(`{"error":{"code":"` + errInit.Code + `","message":"` + errInit.Message + `","details":[]}}` + "\n")
		return handler.Response{StatusCode: StatusOf(errInit.Kind), Body: body,
			Header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"5"}}}, nil
	}
	return app.Handle(req)
}

// StartAll builds every registered App, returning the first error.
func StartAll(ctx context.Context) error {
	lazyMu.Lock()
	ls := append([]*Lazy(nil), lazies...)
	lazyMu.Unlock()
	for _, l := range ls {
		if _, err := l.Get(ctx); err != nil {
			return err
		}
	}
	return nil
}

func closeAll() {
	lazyMu.Lock()
	defer lazyMu.Unlock()
	for _, l := range lazies {
		if l.app != nil {
			l.app.Close()
		}
	}
}

// ServerConfig is the template's process configuration. The timeout names follow the
// OpenFaaS watchdog's so the same stack.yml settings apply.
type ServerConfig struct {
	// Port the function listens on (the OpenFaaS container port is 8080).
	Port int `env:"PORT, default=8080"`
	// BindAddr is the interface to listen on; empty means all (as in a container). The local
	// provider sets 127.0.0.1.
	BindAddr string `env:"BIND_ADDR"`
	// ReadTimeout bounds reading a request.
	ReadTimeout time.Duration `env:"read_timeout, default=10s"`
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration `env:"write_timeout, default=10s"`
	// ExecTimeout bounds one invocation; the handler's context ends then.
	ExecTimeout time.Duration `env:"exec_timeout, default=10s"`
	// MaxBodyBytes is the largest request body read.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES, default=1048576"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// FunctionName names the function in logs and traces; the local provider sets it.
	FunctionName string `env:"FUNCTION_NAME, default=function"`
	// MetricsAddr, when set, is where /metrics (Prometheus) is served, apart from the
	// function's own port so it is never reachable through the gateway. Images use :8081.
	MetricsAddr string `env:"METRICS_ADDR"`
	// Telemetry chooses the trace exporter.
	Telemetry telemetry.Config
}

// HealthPath is where the process answers 200 once it is ready to serve.
const HealthPath = "/_/health"

// Main runs a function process: it builds the function's dependencies, serves HealthPath and
// every other path through handle, and drains in-flight requests on SIGTERM. It exits the
// process with status 1 when start-up fails.
func Main(handle func(handler.Request) (handler.Response, error)) {
	os.Exit(serve(handle))
}

func serve(handle func(handler.Request) (handler.Response, error)) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var cfg ServerConfig
	if err := envconfig.Process(ctx, &cfg); err != nil {
		slog.Error("invalid configuration", "error", err)
		return 1
	}
	slog.SetDefault(logs.New(os.Stdout, cfg.FunctionName, cfg.LogLevel))
	shutdown, err := telemetry.Setup(ctx, cfg.FunctionName, cfg.Telemetry)
	if err != nil {
		slog.Error("invalid telemetry configuration", "error", err)
		return 1
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(flush); err != nil {
			slog.Warn("flushing traces", "error", err)
		}
	}()
	if err := Run(ctx, cfg, handle, nil); err != nil {
		slog.Error("function stopped", "error", err)
		return 1
	}
	return 0
}

// Run is Main without the process plumbing; ready, when not nil, receives the bound address.
func Run(ctx context.Context, cfg ServerConfig, handle func(handler.Request) (handler.Response, error), ready func(net.Addr)) error {
	if err := StartAll(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer closeAll()
	mux := http.NewServeMux()
	mux.HandleFunc(HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "OK\n")
	})
	mux.Handle("/", invoker(cfg, handle))
	srv := &http.Server{
		Handler:           mux,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout + time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddr, fmt.Sprint(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	slog.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr())
	}
	served := make(chan error, 2)
	go func() { served <- srv.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		msrv := &http.Server{Handler: promhttp.HandlerFor(telemetry.Registry(), promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		defer msrv.Close()
		go func() {
			if err := msrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("metrics: %w", err)
			}
		}()
		slog.Info("metrics listening", "addr", mln.Addr().String())
	}
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	slog.Info("draining")
	drain, cancel := context.WithTimeout(context.Background(), cfg.WriteTimeout+cfg.ExecTimeout)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func invoker(cfg ServerConfig, handle func(handler.Request) (handler.Response, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), cfg.ExecTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				WriteError(w, r, errTooLarge.Withf("request body is over the limit of %d bytes", cfg.MaxBodyBytes))
				return
			}
			WriteError(w, r, errMalformedRequest.Wrap(err))
			return
		}
		req := handler.Request{Body: body, Header: r.Header, QueryString: r.URL.RawQuery, Method: r.Method, Host: r.Host}
		req.WithContext(WithPath(ctx, r.URL.Path))
		resp, err := handle(req)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		status := resp.StatusCode
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write(resp.Body) // the client went away; nothing left to tell it
	})
}
