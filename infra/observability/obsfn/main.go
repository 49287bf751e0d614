// Command obsfn is a function built like the platform's (shared/fn's process, App and RED
// metrics, a shared/resilience guarded client) for the observability tests: it serves
// function_* and resilience_* metrics on METRICS_ADDR as every real function does.
//
// Routes: GET / answers 200; POST / echoes the body; GET /fail answers 500; GET /call calls DOWNSTREAM_URL through the
// guarded client (retries, breaker); GET /crash ends the process.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

var app = fn.Setup(func(ctx context.Context) (*fn.App, error) {
	name := os.Getenv("FUNCTION_NAME")
	downstream := os.Getenv("DOWNSTREAM_URL")
	client := resilience.HTTPClient("downstream", resilience.Settings{
		Timeout: 2 * time.Second, MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		BreakerFailures: 4, BreakerDelay: time.Minute, BreakerSuccesses: 1,
	}, nil, resilience.ProcessMetrics())
	a := fn.New(name)
	a.Route("GET /{$}", func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.WriteString(w, "ok\n")
		return err
	})
	a.Route("POST /{$}", func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.Copy(w, r.Body)
		return err
	})
	a.Route("GET /fail", func(w http.ResponseWriter, r *http.Request) error {
		return fault.New(fault.Internal, "internal", "failing on purpose")
	})
	a.Route("GET /call", func(w http.ResponseWriter, r *http.Request) error {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, downstream, nil)
		if err != nil {
			return fmt.Errorf("downstream request: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fault.New(fault.Unavailable, "downstream_unavailable", "the downstream call failed").Wrap(err)
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, err = io.Copy(w, resp.Body)
		return err
	})
	a.Route("GET /crash", func(w http.ResponseWriter, r *http.Request) error {
		os.Exit(3)
		return nil
	})
	return a, nil
})

func main() {
	fn.Main(func(req handler.Request) (handler.Response, error) { return app.Handle(req) })
}
