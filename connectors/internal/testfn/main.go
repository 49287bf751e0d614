// Command testfn is a function process for the connector's tests against the local provider:
// it listens on BIND_ADDR:PORT, answers GET /_/health, and for every other request reports the
// request's headers and body to REPORT_URL, then answers 400 when the body is "reject" and 200
// otherwise.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testfn:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	bind, port, report := os.Getenv("BIND_ADDR"), os.Getenv("PORT"), os.Getenv("REPORT_URL")
	if bind == "" {
		bind = "127.0.0.1"
	}
	if port == "" || report == "" {
		return errors.New("PORT and REPORT_URL are required")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		b, _ := json.Marshal(map[string]any{"headers": r.Header, "body": string(body)}) // cannot fail for these types
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, report, bytes.NewReader(b))
		if err != nil {
			http.Error(w, "report", http.StatusInternalServerError)
			return
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, "report", http.StatusBadGateway)
			return
		}
		_ = res.Body.Close() // only the report's delivery matters
		if string(body) == "reject" {
			http.Error(w, `{"error":"rejected"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(bind, port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // exiting either way
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
