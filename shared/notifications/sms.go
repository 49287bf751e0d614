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

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// SMSConfig locates the SMS provider. The guarded client handed to NewSMSClient reads SMS_TIMEOUT,
// SMS_MAX_ATTEMPTS, SMS_BACKOFF_BASE, SMS_BACKOFF_MAX, SMS_BREAKER_FAILURES, SMS_BREAKER_DELAY
// and SMS_BREAKER_SUCCESSES (shared/resilience.Settings).
type SMSConfig struct {
	// URL is the provider's base URL; the default is infra/smssim as `make up` starts it.
	URL string `env:"SMS_PROVIDER_URL, default=http://127.0.0.1:8092"`
}

// SMSClient sends SMS through the provider's HTTP API (POST /v1/messages). It is the one place
// the provider is called; its client is the guarded one (shared/resilience.HTTPClient): each
// attempt is bounded, a failed one is retried with the same Idempotency-Key (so the provider
// sends the text once), and an open breaker fails at once.
type SMSClient struct {
	base   string
	client *http.Client
}

// NewSMSClient checks cfg and returns a client; client nil means http.DefaultClient (no guard:
// the request's own deadline is the only bound).
func NewSMSClient(cfg SMSConfig, client *http.Client) (*SMSClient, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, errors.New("SMS_PROVIDER_URL: must be an http:// or https:// URL")
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &SMSClient{base: strings.TrimRight(cfg.URL, "/"), client: client}, nil
}

// Send hands t to the provider. Timeouts, connection failures, 429 and 5xx answers, and an
// open circuit breaker (no call made) are ErrSMSUnavailable; any other answer but 2xx is a
// plain error.
func (s *SMSClient) Send(ctx context.Context, t Text) error {
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
