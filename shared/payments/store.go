package payments

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

// ErrNotFound: the order has no payment.
var ErrNotFound = fault.New(fault.NotFound, "payment_not_found", "no payment for this order")

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const columns = "order_id, customer_id, amount, currency, status, COALESCE(provider_ref, ''), COALESCE(failure, ''), created_at"

// Get returns the payment of an order.
func Get(ctx context.Context, q Querier, orderID uuid.UUID) (Payment, error) {
	var p Payment
	err := q.QueryRow(ctx, "SELECT "+columns+" FROM payments.payments WHERE order_id = $1", orderID).Scan(
		&p.OrderID, &p.CustomerID, &p.Amount.Amount, &p.Amount.Currency, &p.Status, &p.ProviderRef, &p.Failure, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, ErrNotFound
	}
	if err != nil {
		return Payment{}, fmt.Errorf("get payment: %w", err)
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return p, nil
}

// Record stores p; it returns false, storing nothing, when the order already has a payment
// (the primary key allows one per order).
func Record(ctx context.Context, q Querier, p Payment) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO payments.payments (order_id, customer_id, amount, currency, status, provider_ref, failure)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, '')) ON CONFLICT (order_id) DO NOTHING`,
		p.OrderID, p.CustomerID, p.Amount.Amount, p.Amount.Currency, p.Status, p.ProviderRef, p.Failure)
	if err != nil {
		return false, fmt.Errorf("record payment: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
