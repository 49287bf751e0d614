package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/idempotency"
	"github.com/faas-commerce/faas-commerce/shared/pg"
)

// MaxRestock bounds one restock, mirrored by a CHECK constraint in the migrations.
const MaxRestock = 1_000_000

// NewRestock is what a client sends to add units of a product.
type NewRestock struct {
	Quantity *int `json:"quantity"`
}

// Validate checks the fields.
func (n NewRestock) Validate() error {
	var v fault.Validator
	switch {
	case n.Quantity == nil:
		v.Add("quantity", "is required")
	case *n.Quantity < 1 || *n.Quantity > MaxRestock:
		v.Add("quantity", "must be from 1 to 1000000")
	}
	return v.Err()
}

// Restock is one delivery of units, with the stock it left.
type Restock struct {
	ID        uuid.UUID `json:"id"`
	ProductID uuid.UUID `json:"product_id"`
	Quantity  int       `json:"quantity"`
	CreatedAt time.Time `json:"created_at"`
	// Stock is the product's stock right after the restock.
	Stock Stock `json:"stock"`
}

var keyTable = idempotency.Table{"inventory", "idempotency_keys"}

type restockRequest struct {
	ProductID uuid.UUID `json:"product_id"`
	Quantity  int       `json:"quantity"`
}

// AddStock adds quantity units to a product's stock and records the restock, in one
// transaction. With an idempotency key the first result is replayed. A product without a stock
// row is ErrNotFound.
func AddStock(ctx context.Context, db pg.Beginner, productID uuid.UUID, quantity int, key string) (idempotency.Result[Restock], error) {
	req := restockRequest{ProductID: productID, Quantity: quantity}
	res, err := idempotency.Create(ctx, db, keyTable, "restock", key, req, func(tx pgx.Tx) (Restock, idempotency.Outcome, error) {
		return restock(ctx, tx, req)
	})
	if err != nil {
		return res, fmt.Errorf("restock: %w", err)
	}
	return res, nil
}

func restock(ctx context.Context, tx pgx.Tx, req restockRequest) (Restock, idempotency.Outcome, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Restock{}, 0, fmt.Errorf("new id: %w", err)
	}
	tag, err := tx.Exec(ctx, `UPDATE inventory.stock SET on_hand = on_hand + $2, version = version + 1, updated_at = now()
		WHERE product_id = $1`, req.ProductID, req.Quantity)
	if err != nil {
		return Restock{}, 0, err
	}
	if tag.RowsAffected() == 0 {
		return Restock{}, 0, ErrNotFound
	}
	r := Restock{ID: id, ProductID: req.ProductID, Quantity: req.Quantity}
	if err := tx.QueryRow(ctx, "INSERT INTO inventory.restocks (id, product_id, quantity) VALUES ($1, $2, $3) RETURNING created_at",
		id, req.ProductID, req.Quantity).Scan(&r.CreatedAt); err != nil {
		return Restock{}, 0, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if r.Stock, err = Get(ctx, tx, req.ProductID); err != nil {
		return Restock{}, 0, err
	}
	return r, idempotency.Created, nil
}
