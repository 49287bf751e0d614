package payments

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

// ProviderConfig locates the payment provider. The call's guard (timeout per attempt, retries,
// circuit breaker) reads PAYMENT_PROVIDER_TIMEOUT, _MAX_ATTEMPTS, _BACKOFF_BASE, _BACKOFF_MAX,
// _BREAKER_FAILURES, _BREAKER_DELAY and _BREAKER_SUCCESSES (shared/resilience.Settings) and is
// the client handed to NewHTTPProvider.
type ProviderConfig struct {
	// URL is the provider's base URL; the default is infra/paymentsim as `make up` starts it.
	URL string `env:"PAYMENT_PROVIDER_URL, default=http://127.0.0.1:8091"`
}

// ProviderDependency is the payment provider's name in the resilience metrics
// (resilience_breaker_state{dependency="payment-provider"}).
const ProviderDependency = "payment-provider"

// ProviderSecrets are the provider's credentials, from the secret file payment-api-key.
type ProviderSecrets struct {
	// APIKey is sent as a bearer token.
	APIKey string `env:"payment_api_key, required"`
}

// HTTPProvider charges through the provider's HTTP API (POST /v1/charges). It is the one place
// the provider is called; its client is the guarded one (shared/resilience.HTTPClient): each
// attempt is bounded, failed attempts are retried with the same Idempotency-Key (so a retry
// never charges twice), and an open breaker fails the call at once.
type HTTPProvider struct {
	base   string
	apiKey string
	client *http.Client
}

// NewHTTPProvider returns a client for cfg; client nil means http.DefaultClient (no guard: the
// request's own deadline is the only bound).
func NewHTTPProvider(cfg ProviderConfig, secrets ProviderSecrets, client *http.Client) (*HTTPProvider, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, errors.New("PAYMENT_PROVIDER_URL: must be an http:// or https:// URL")
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &HTTPProvider{base: strings.TrimRight(cfg.URL, "/"), apiKey: secrets.APIKey, client: client}, nil
}

type chargeBody struct {
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	CustomerRef string `json:"customer_ref"`
	OrderRef    string `json:"order_ref"`
}

type chargeAnswer struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	DeclineCode string `json:"decline_code"`
}

// Charge asks the provider for a charge. Timeouts, connection failures, 429 and 5xx answers,
// and an open circuit breaker (no call made) are ErrProviderUnavailable; any other unexpected
// answer is a plain error.
func (p *HTTPProvider) Charge(ctx context.Context, r ChargeRequest) (ChargeResult, error) {
	b, err := json.Marshal(chargeBody{Amount: r.Amount.Amount, Currency: r.Amount.Currency, CustomerRef: r.CustomerRef, OrderRef: r.OrderRef})
	if err != nil {
		return ChargeResult{}, fmt.Errorf("encode charge: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/v1/charges", bytes.NewReader(b))
	if err != nil {
		return ChargeResult{}, fmt.Errorf("charge request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	telemetry.ToHeaders(ctx, req.Header)
	resp, err := p.client.Do(req)
	if err != nil {
		return ChargeResult{}, ErrProviderUnavailable.Wrap(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return ChargeResult{}, ErrProviderUnavailable.Wrap(fmt.Errorf("read charge answer: %w", err))
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return ChargeResult{}, ErrProviderUnavailable.Wrap(fmt.Errorf("payment provider answered %d", resp.StatusCode))
	case resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK:
		// 401 (wrong key), 422 (the key was used for a different charge) and the like: not
		// the event's fault, and not solved by waiting; retried until someone looks.
		return ChargeResult{}, fmt.Errorf("payment provider answered %d", resp.StatusCode)
	}
	var a chargeAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return ChargeResult{}, fmt.Errorf("decode charge answer: %w", err)
	}
	switch {
	case a.ID == "":
		return ChargeResult{}, errors.New("payment provider answered without a charge id")
	case a.Status == "succeeded":
		return ChargeResult{ID: a.ID}, nil
	case a.Status == "declined":
		code := a.DeclineCode
		if code == "" {
			code = "declined"
		}
		return ChargeResult{ID: a.ID, Declined: true, DeclineCode: code}, nil
	}
	return ChargeResult{}, fmt.Errorf("payment provider answered status %q", a.Status)
}
