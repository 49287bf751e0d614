// Package inventory is the inventory context: stock per product, the reservations orders hold
// and the restocks that refill it. on_hand counts units free to sell, so for every product
// initial + restocked - reserved + released = on_hand, and on_hand never goes below zero.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

// Stock is how many units of a product are free to sell, and how many orders hold.
type Stock struct {
	ProductID uuid.UUID `json:"product_id"`
	// OnHand is free to sell.
	OnHand int64 `json:"on_hand"`
	// Reserved is held by orders that were not cancelled (RESERVED reservations).
	Reserved  int64     `json:"reserved"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrNotFound: no stock row for the product.
var ErrNotFound = fault.New(fault.NotFound, "stock_not_found", "no stock for this product")

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open creates an empty stock row for a new product; it does nothing when one exists. The
// catalog calls it in the transaction that creates the product.
func Open(ctx context.Context, q Querier, productID uuid.UUID) error {
	if _, err := q.Exec(ctx, "INSERT INTO inventory.stock (product_id) VALUES ($1) ON CONFLICT DO NOTHING", productID); err != nil {
		return fmt.Errorf("open stock: %w", err)
	}
	return nil
}

// Get returns the stock of a product.
func Get(ctx context.Context, q Querier, productID uuid.UUID) (Stock, error) {
	s := Stock{ProductID: productID}
	err := q.QueryRow(ctx, `SELECT s.on_hand, s.version, s.updated_at,
			COALESCE((SELECT sum(r.quantity) FROM inventory.reservations r WHERE r.product_id = s.product_id AND r.status = 'RESERVED'), 0)
		FROM inventory.stock s WHERE s.product_id = $1`, productID).
		Scan(&s.OnHand, &s.Version, &s.UpdatedAt, &s.Reserved)
	if errors.Is(err, pgx.ErrNoRows) {
		return Stock{}, ErrNotFound
	}
	if err != nil {
		return Stock{}, fmt.Errorf("read stock: %w", err)
	}
	s.UpdatedAt = s.UpdatedAt.UTC()
	return s, nil
}
