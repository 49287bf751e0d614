// Package gateway calls other functions the way the design wants: through the OpenFaaS gateway
// ($GATEWAY_URL/function/<name>/...), never by address. Every call carries the request's
// context, a timeout over all attempts and the trace context; the http.Client it is given
// (deps.HTTPClient, see shared/resilience) adds retries with backoff and a circuit breaker.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Config is where the gateway is and how long a call may take.
type Config struct {
	// URL is the gateway's base URL.
	URL string `env:"GATEWAY_URL, default=http://127.0.0.1:8080"`
	// Timeout bounds one call with all its retries, including reading the answer.
	Timeout time.Duration `env:"GATEWAY_TIMEOUT, default=5s"`
}

// MaxResponse bounds the body a call reads.
const MaxResponse = 1 << 20

// Client calls functions through the gateway.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
}

// New returns a client for cfg calling through hc (nil: a plain client of its own).
func New(cfg Config, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("environment variable GATEWAY_URL: %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("environment variable GATEWAY_TIMEOUT: must be positive")
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, http: hc, timeout: cfg.Timeout}, nil
}

// ErrUnavailable: the function could not be reached or did not answer in time; retrying later
// may work.
var ErrUnavailable = fault.New(fault.Unavailable, "dependency_unavailable", "a service this request needs is unavailable; retry later")

// StatusError is a function's answer that was neither 2xx nor a server failure: the call
// reached the function and it refused. Code is the function's error code.
type StatusError struct {
	Function string
	Status   int
	Code     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.Function, e.Status, e.Code)
}

// GetJSON calls GET /function/<function>/<path> and decodes a 2xx JSON answer into v. A 4xx
// answer is a *StatusError; no answer, a timeout or a 5xx is ErrUnavailable (wrapping the
// cause). A cancelled ctx is returned as it is.
func (c *Client) GetJSON(ctx context.Context, function, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base.JoinPath("function", function, path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("call %s: %w", function, err)
	}
	req.Header.Set("Accept", "application/json")
	telemetry.ToHeaders(ctx, req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		if parent := context.Cause(ctx); parent != nil && !errors.Is(parent, context.DeadlineExceeded) {
			return err // the caller went away
		}
		return ErrUnavailable.Wrap(fmt.Errorf("call %s: %w", function, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return ErrUnavailable.Wrap(fmt.Errorf("read %s answer: %w", function, err))
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("decode %s answer: %w", function, err)
		}
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout:
		var eb fn.ErrorBody
		_ = json.Unmarshal(body, &eb) // a body that is not the platform's error shape has no code
		return &StatusError{Function: function, Status: resp.StatusCode, Code: eb.Error.Code}
	default:
		return ErrUnavailable.Wrap(fmt.Errorf("call %s: status %d", function, resp.StatusCode))
	}
}
