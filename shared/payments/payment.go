// Package payments is the payments context: one payment per order, taken from an outside
// payment provider with the order id as the idempotency key, recorded with the event that
// announces it.
package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Statuses of a payment.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
)

// Payment is the outcome of charging an order.
type Payment struct {
	OrderID    uuid.UUID   `json:"order_id"`
	CustomerID uuid.UUID   `json:"customer_id"`
	Amount     money.Money `json:"amount"`
	Status     string      `json:"status"`
	// ProviderRef is the provider's charge id, "" when there was no charge.
	ProviderRef string `json:"provider_ref"`
	// Failure is why the payment failed (the provider's decline code), "" when it succeeded.
	Failure   string    `json:"failure"`
	CreatedAt time.Time `json:"created_at"`
}

// ChargeRequest is what the provider is asked to charge.
type ChargeRequest struct {
	Amount money.Money
	// CustomerRef and OrderRef tell the provider whom and what for.
	CustomerRef string
	OrderRef    string
	// IdempotencyKey makes a repeated request return the first charge.
	IdempotencyKey string
}

// ChargeResult is the provider's answer: a charge that succeeded, or a decline.
type ChargeResult struct {
	// ID is the provider's charge id.
	ID string
	// Declined is true when the provider refused the charge; DeclineCode says why.
	Declined    bool
	DeclineCode string
}

// Provider takes charges. A failure to get an answer (timeout, 5xx, connection refused) is an
// error of kind fault.Unavailable; a decline is a ChargeResult, not an error.
type Provider interface {
	Charge(ctx context.Context, r ChargeRequest) (ChargeResult, error)
}

// ErrProviderUnavailable: the provider did not answer in time or answered 5xx; the event is
// retried later with the same idempotency key.
var ErrProviderUnavailable = fault.New(fault.Unavailable, "payment_provider_unavailable", "the payment provider is unavailable; retry later")

// Charge is the consumer of stock.reserved: it charges the order once and returns the event to
// publish, inside tx (the inbox claim's transaction). The provider is called before tx commits
// with the order id as the idempotency key, so a redelivery after a crash between the charge
// and the commit gets the same charge back, never a second one. An order that already has a
// payment (another stock.reserved for it) is not charged again and emits nothing, so
// payment.succeeded is published at most once per order.
func Charge(ctx context.Context, tx pgx.Tx, p Provider, env events.Envelope) ([]events.Envelope, error) {
	var in events.StockReservedV1
	if err := env.Decode(&in); err != nil {
		return nil, err
	}
	if _, err := Get(ctx, tx, in.OrderID); err == nil {
		return nil, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	res, err := p.Charge(ctx, ChargeRequest{Amount: in.Total, CustomerRef: in.CustomerID.String(),
		OrderRef: in.OrderID.String(), IdempotencyKey: in.OrderID.String()})
	if err != nil {
		return nil, fmt.Errorf("charge order %s: %w", in.OrderID, err)
	}
	pay := Payment{OrderID: in.OrderID, CustomerID: in.CustomerID, Amount: in.Total, Status: StatusSucceeded, ProviderRef: res.ID}
	if res.Declined {
		pay.Status, pay.Failure = StatusFailed, res.DeclineCode
	}
	first, err := Record(ctx, tx, pay)
	if err != nil || !first {
		return nil, err
	}
	var out events.Envelope
	if res.Declined {
		out, err = events.New(events.PaymentFailed, env.CorrelationID, events.PaymentFailedV1{
			OrderID: in.OrderID, CustomerID: in.CustomerID, Amount: in.Total, Reason: res.DeclineCode,
		}, telemetry.ToMap(ctx))
	} else {
		out, err = events.New(events.PaymentSucceeded, env.CorrelationID, events.PaymentSucceededV1{
			OrderID: in.OrderID, CustomerID: in.CustomerID, Amount: in.Total, ProviderRef: res.ID,
		}, telemetry.ToMap(ctx))
	}
	if err != nil {
		return nil, err
	}
	return []events.Envelope{out}, nil
}
