// Package simhttp is what the outside-system simulators (paymentsim, smssim, mailsim) share:
// JSON answers, strict decoding, secret files, and a fault switchboard (latency, random 503s,
// "down") that tests and people flip over HTTP at /admin/faults.
package simhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// ErrorBody is the JSON shape of every error the simulators answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error writes an error body with status.
func Error(w http.ResponseWriter, status int, code, message string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message = code, message
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	JSON(w, status, b)
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // the client went away; nothing left to tell it
}

// Decode reads exactly one JSON object of at most 64 KiB into v, refusing unknown fields.
func Decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("body: data after the JSON object")
	}
	return nil
}

// ReadSecret reads a secret file, without its trailing newline.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// State is what the switchboard holds, as GET and PUT /admin/faults carry it.
type State struct {
	// Down makes every request of the simulator's API fail (503 over HTTP, 421 over SMTP).
	Down bool `json:"down"`
	// Latency delays answers, e.g. "250ms".
	Latency Duration `json:"latency"`
	// FailureRate is the share of requests, 0 to 1, that fail as if down.
	FailureRate float64 `json:"failure_rate"`
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Faults is a simulator's switchboard; safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	state State
}

// NewFaults returns a switchboard with the configured latency and failure rate, not down.
func NewFaults(latency time.Duration, failureRate float64) *Faults {
	return &Faults{state: State{Latency: Duration(latency), FailureRate: failureRate}}
}

// State returns the current settings.
func (f *Faults) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// Set replaces the settings.
func (f *Faults) Set(s State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = s
}

// SetDown switches "down" on or off, keeping the other settings.
func (f *Faults) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.Down = down
}

// Fail reports whether this request should fail: the simulator is down, or the dice say so.
func (f *Faults) Fail() bool {
	s := f.State()
	return s.Down || (s.FailureRate > 0 && rand.Float64() < s.FailureRate)
}

// Delay waits for the configured latency; false when ctx ended first.
func (f *Faults) Delay(ctx context.Context) bool {
	d := time.Duration(f.State().Latency)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Register adds GET /healthz and GET, PUT /admin/faults to mux.
func (f *Faults) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		JSON(w, http.StatusOK, f.State())
	})
	mux.HandleFunc("PUT /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var s State
		if err := Decode(r, &s); err != nil {
			Error(w, http.StatusBadRequest, "malformed_request", err.Error())
			return
		}
		if s.Latency < 0 || s.FailureRate < 0 || s.FailureRate > 1 {
			Error(w, http.StatusUnprocessableEntity, "invalid_request", "latency must not be negative and failure_rate must be between 0 and 1")
			return
		}
		f.Set(s)
		JSON(w, http.StatusOK, s)
	})
}

// Serve runs h on addr until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Main runs one of the development programs (a simulator, the trace sink): JSON logs, a
// context that ends on SIGTERM or an interrupt, spans exported as OTEL_* says when traced, and
// exit status 1 when run fails.
func Main(name string, traced bool, run func(ctx context.Context, log *slog.Logger, env envconfig.Lookuper) error) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := func() error {
		defer stop()
		if traced {
			stopTracing, err := Tracing(ctx, name, envconfig.OsLookuper())
			if err != nil {
				return err
			}
			defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }() // best effort: the last spans on the way out
		}
		return run(ctx, log, envconfig.OsLookuper())
	}()
	if err != nil {
		log.Error(name+" failed", "error", err)
		os.Exit(1)
	}
}

// Accept runs the checks a simulated provider's create call starts with: an injected failure
// (503), an Idempotency-Key of 1 to 255 characters (400), a JSON body decoded into v (400). It
// answers the error itself; ok says whether to go on, with the key.
func (f *Faults) Accept(w http.ResponseWriter, r *http.Request, v any) (key string, ok bool) {
	if f.Fail() {
		Error(w, http.StatusServiceUnavailable, "unavailable", "the provider is unavailable; retry later")
		return "", false
	}
	key = r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > 255 {
		Error(w, http.StatusBadRequest, "idempotency_key_required", "send an Idempotency-Key header of 1 to 255 characters")
		return "", false
	}
	if err := Decode(r, v); err != nil {
		Error(w, http.StatusBadRequest, "malformed_request", err.Error())
		return "", false
	}
	return key, true
}
