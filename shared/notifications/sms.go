package notifications

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// SMSConfig locates the SMS provider.
type SMSConfig struct {
	// URL is the provider's base URL; the default is infra/smssim as `make up` starts it.
	URL string `env:"SMS_PROVIDER_URL, default=http://127.0.0.1:8092"`
	// Timeout bounds sending one message, within the request's own deadline.
	Timeout time.Duration `env:"SMS_TIMEOUT, default=5s"`
}

// SMSClient sends SMS through the provider's HTTP API (POST /v1/messages). It is the one place
// the provider is called, so retries and a circuit breaker can wrap it.
type SMSClient struct {
	base    string
	timeout time.Duration
	client  *http.Client
}

// NewSMSClient checks cfg and returns a client; client nil means http.DefaultClient.
func NewSMSClient(cfg SMSConfig, client *http.Client) (*SMSClient, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, errors.New("SMS_PROVIDER_URL: must be an http:// or https:// URL")
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("SMS_TIMEOUT: must be positive")
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &SMSClient{base: strings.TrimRight(cfg.URL, "/"), timeout: cfg.Timeout, client: client}, nil
}

// Send hands t to the provider. Timeouts, connection failures, 429 and 5xx answers are
// ErrSMSUnavailable; any other answer but 2xx is a plain error.
func (s *SMSClient) Send(ctx context.Context, t Text) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b, err := json.Marshal(struct {
		To   string `json:"to"`
		Body string `json:"body"`
	}{t.To, t.Body})
	if err != nil {
		return fmt.Errorf("encode SMS: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/messages", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("SMS request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", t.IdempotencyKey)
	telemetry.ToHeaders(ctx, req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		return ErrSMSUnavailable.Wrap(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return ErrSMSUnavailable.Wrap(fmt.Errorf("SMS provider answered %d", resp.StatusCode))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("SMS provider answered %d", resp.StatusCode)
	}
	return nil
}
