// Command echofn is a function binary used by the provider's tests. It follows the function
// process contract: listen on BIND_ADDR:PORT, answer GET /_/health, read secrets from
// SECRETS_DIR, log JSON lines, drain in-flight requests on SIGTERM and exit 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(logger); err != nil {
		logger.Error("echofn stopped", "error", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	bind := os.Getenv("BIND_ADDR")
	if bind == "" {
		bind = "127.0.0.1"
	}
	port := os.Getenv("PORT")
	if port == "" {
		return errors.New("PORT is not set")
	}
	if d, err := time.ParseDuration(os.Getenv("STARTUP_DELAY")); err == nil {
		time.Sleep(d) // simulates a slow cold start
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /_/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, os.Environ())
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", os.Getpid())
	})
	mux.HandleFunc("/secret/{name}", func(w http.ResponseWriter, r *http.Request) {
		writeSecret(w, r.PathValue("name"))
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		logger.Error("crashing on request")
		os.Exit(3)
	})
	mux.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		msg := r.URL.Query().Get("msg")
		logger.Info(msg)
		fmt.Fprintln(os.Stderr, `{"stream":"stderr","msg":"`+msg+`"}`)
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// query forms for clients that cannot choose a path (faas-cli invoke)
		if name := r.URL.Query().Get("secret"); name != "" {
			writeSecret(w, name)
			return
		}
		if msg := r.URL.Query().Get("log"); msg != "" {
			logger.Info(msg)
		}
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo-Pid", strconv.Itoa(os.Getpid()))
		w.Header().Set("X-Echo-Path", r.URL.RequestURI())
		w.Header().Set("X-Echo-Call-Id", r.Header.Get("X-Call-Id"))
		w.Header().Set("X-Echo-Start-Time", r.Header.Get("X-Start-Time"))
		w.Header().Set("X-Echo-Version", os.Getenv("VERSION"))
		w.Write(body)
	})

	ln, err := net.Listen("tcp", net.JoinHostPort(bind, port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if addr := os.Getenv("METRICS_ADDR"); addr != "" {
		// a fixed metrics page, so tests can scrape the address the provider handed out
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		msrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "echofn_up{pid=\"%d\"} 1\n", os.Getpid())
		})}
		defer msrv.Close()
		go func() {
			if err := msrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
	}
	logger.Info("listening", "port", port)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeSecret(w http.ResponseWriter, name string) {
	b, err := os.ReadFile(filepath.Join(os.Getenv("SECRETS_DIR"), filepath.Base(name)))
	if err != nil {
		http.Error(w, "secret not found", http.StatusNotFound)
		return
	}
	w.Write(b)
}
