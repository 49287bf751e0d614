// Package provider is an OpenFaaS provider that runs each function as local processes: it
// serves the OpenFaaS provider API (faas-provider types and routes), proxies invocations,
// scales functions to and from zero, keeps secrets as files and queues async calls in RabbitMQ.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/logs"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Version is reported by /system/info.
var Version = "dev"

// Provider runs functions as processes behind the OpenFaaS API.
type Provider struct {
	cfg      Config
	log      *slog.Logger
	stateDir string
	binDir   string
	creds    *auth.BasicAuthCredentials
	secrets  *secretStore
	metrics  *metrics
	spawner  *spawner
	upstream *http.Transport
	async    *asyncQueue
	gate     *gate
	self     atomic.Pointer[string] // the address the API listens on, once it does

	mu        sync.RWMutex
	functions map[string]*function
}

// New prepares the state directory (credentials are generated at first start) and the
// provider's parts. Start background work with Run.
func New(cfg Config, log *slog.Logger) (*Provider, error) {
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	binDir, err := filepath.Abs(cfg.BinDir)
	if err != nil {
		return nil, fmt.Errorf("bin dir: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	creds, err := ensureCredentials(filepath.Join(stateDir, "auth"))
	if err != nil {
		return nil, err
	}
	secrets, err := newSecretStore(filepath.Join(stateDir, "secrets"))
	if err != nil {
		return nil, err
	}
	// function folders of an earlier run hold nothing this run needs
	if err := os.RemoveAll(filepath.Join(stateDir, "functions")); err != nil {
		return nil, fmt.Errorf("clean functions dir: %w", err)
	}
	p := &Provider{
		cfg: cfg, log: log, stateDir: stateDir, binDir: binDir, creds: creds, secrets: secrets,
		metrics: newMetrics(), spawner: newSpawner(), functions: map[string]*function{},
		upstream: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: cfg.UpstreamTimeout,
			DisableCompression:    true,
		},
	}
	p.async = newAsyncQueue(p)
	if p.gate, err = p.newGate(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// CredentialsDir is where the admin credentials (basic-auth-user, basic-auth-password) live.
func (p *Provider) CredentialsDir() string { return filepath.Join(p.stateDir, "auth") }

// Handler is the OpenFaaS API: /system/* (basic auth), /function/, /async-function/,
// /healthz and /metrics.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	sys := func(pattern string, h http.HandlerFunc) {
		if p.cfg.BasicAuth {
			h = auth.DecorateWithBasicAuth(h, p.creds)
		}
		mux.HandleFunc(pattern, h)
	}
	sys("GET /system/functions", p.listFunctions)
	sys("POST /system/functions", p.deployFunction)
	sys("PUT /system/functions", p.updateFunction)
	sys("DELETE /system/functions", p.deleteFunction)
	sys("GET /system/function/{name}", p.functionStatus)
	sys("POST /system/scale-function/{name}", p.scaleFunction)
	sys("GET /system/info", p.info)
	sys("GET /system/namespaces", p.namespaces)
	sys("/system/secrets", p.secretsHandler)
	sys("GET /system/logs", p.logsHandler(logs.NewLogHandlerFunc(p, 24*time.Hour)))
	sys("GET /system/metrics-targets", p.metricsTargets)

	mux.HandleFunc("/function/{name}", p.invoke)
	mux.HandleFunc("/function/{name}/{path...}", p.invoke)
	mux.HandleFunc("POST /async-function/{name}", p.invokeAsync)
	mux.HandleFunc("POST /async-function/{name}/{path...}", p.invokeAsync)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// Run serves the API on cfg.Addr and runs the autoscaler and the async queue until ctx ends,
// then stops every function process. ready, when not nil, receives the bound address.
func (p *Provider) Run(ctx context.Context, ready func(addr string)) error {
	if err := p.restore(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", p.cfg.Addr)
	if err != nil {
		p.stopAll()
		return fmt.Errorf("listen: %w", err)
	}
	bound := ln.Addr().String()
	p.self.Store(&bound)
	srv := &http.Server{
		Handler:           p.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var wg sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	wg.Go(func() { p.autoscale(bgCtx) })
	wg.Go(func() { p.async.run(bgCtx) })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	p.log.Info("provider listening", "addr", ln.Addr().String(), "state_dir", p.stateDir, "bin_dir", p.binDir)
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		err = nil
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), p.cfg.StopTimeout)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && !errors.Is(serr, context.DeadlineExceeded) {
		p.log.Warn("http shutdown", "error", serr)
	}
	stopBackground()
	wg.Wait()
	p.stopAll()
	p.log.Info("provider stopped")
	return err
}

// stopAll stops every function's processes (SIGTERM, drain, SIGKILL after StopTimeout).
func (p *Provider) stopAll() {
	p.mu.Lock()
	fns := p.functions
	p.functions = map[string]*function{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Go(f.shutdown)
	}
	wg.Wait()
}

func (p *Provider) lookup(name string) (*function, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	f, ok := p.functions[name]
	return f, ok
}
