// Package function is charge-payment: the consumer of stock.reserved. It charges the order at
// the payment provider (the order id is the idempotency key), records the payment and emits
// payment.succeeded or payment.failed, all in the transaction that records the event as handled.
package function

import (
	"context"

	"github.com/jackc/pgx/v5"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/payments"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

// consumer is the name charge-payment records handled events under in messaging.inbox.
const consumer = "charge-payment"

var app = deps.Setup(func(ctx context.Context, d *deps.Deps) (*fn.App, error) {
	p, err := NewProvider(ctx, d.Source)
	if err != nil {
		return nil, err
	}
	return NewApp(d.DB, p), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

// providerSettings are the payment provider's location and the guard around every charge:
// PAYMENT_PROVIDER_TIMEOUT per attempt, retries with the same idempotency key (so a retry never
// charges twice), and a circuit breaker. While the breaker is open a charge fails at once with
// payment_provider_unavailable (503, Retry-After), so the connector retries the event later
// instead of every delivery waiting out timeouts.
type providerSettings struct {
	Provider payments.ProviderConfig
	Guard    resilience.Settings `env:", prefix=PAYMENT_PROVIDER_"`
}

// NewProvider builds the guarded payment provider client from PAYMENT_PROVIDER_* and the
// payment-api-key secret.
func NewProvider(ctx context.Context, src config.Source) (*payments.HTTPProvider, error) {
	var (
		s       providerSettings
		secrets payments.ProviderSecrets
	)
	if err := src.Load(ctx, &s, &secrets); err != nil {
		return nil, err
	}
	client := resilience.HTTPClient(payments.ProviderDependency, s.Guard, nil, resilience.ProcessMetrics())
	return payments.NewHTTPProvider(s.Provider, secrets, client)
}

// NewApp builds the function on db and p. Exported for the tests in ./simtest, which run it
// against the payment simulator in infra (a module of their own, so the image build, which
// sees only this folder, shared/ and migrations/, never needs infra).
func NewApp(db pg.Beginner, p payments.Provider) *fn.App {
	return inbox.Route(fn.New("charge-payment"), db, consumer, []string{events.StockReserved},
		func(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
			return payments.Charge(ctx, tx, p, env)
		})
}
