package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/events"
)

// Item is a quantity of one product that an order asks for.
type Item struct {
	ProductID uuid.UUID
	Quantity  int
}

// ErrAlreadyReserved: the order holds (or held) reservations; reserving it again would count
// its units twice.
var ErrAlreadyReserved = errors.New("order already has reservations")

// Reserve holds every item for the order or none. The stock rows are locked in product-id
// order, so concurrent reservations never deadlock and each sees the units the others left.
// When some product has fewer units on hand than asked (a product without a stock row has
// none), nothing changes and the short items are returned. Items naming one product twice are
// added up. Reserve runs in the caller's transaction.
func Reserve(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, items []Item) ([]events.Shortage, error) {
	items, err := merge(items)
	if err != nil {
		return nil, err
	}
	var held bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM inventory.reservations WHERE order_id = $1)", orderID).Scan(&held); err != nil {
		return nil, fmt.Errorf("reserve stock: %w", err)
	}
	if held {
		return nil, ErrAlreadyReserved
	}
	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	rows, err := tx.Query(ctx, "SELECT product_id, on_hand FROM inventory.stock WHERE product_id = ANY($1) ORDER BY product_id FOR UPDATE", ids)
	if err != nil {
		return nil, fmt.Errorf("lock stock: %w", err)
	}
	onHand := map[uuid.UUID]int64{}
	var (
		id uuid.UUID
		n  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { onHand[id] = n; return nil }); err != nil {
		return nil, fmt.Errorf("lock stock: %w", err)
	}
	var short []events.Shortage
	for _, it := range items {
		if avail := onHand[it.ProductID]; avail < int64(it.Quantity) {
			short = append(short, events.Shortage{ProductID: it.ProductID, Requested: it.Quantity, Available: avail})
		}
	}
	if len(short) > 0 {
		return short, nil
	}
	for _, it := range items {
		tag, err := tx.Exec(ctx, `UPDATE inventory.stock SET on_hand = on_hand - $2, version = version + 1, updated_at = now()
			WHERE product_id = $1 AND on_hand >= $2`, it.ProductID, it.Quantity)
		if err != nil {
			return nil, fmt.Errorf("take stock: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return nil, fmt.Errorf("take stock of %s: the locked row changed", it.ProductID)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO inventory.reservations (order_id, product_id, quantity) VALUES ($1, $2, $3)",
			orderID, it.ProductID, it.Quantity); err != nil {
			return nil, fmt.Errorf("record reservation: %w", err)
		}
	}
	return nil, nil
}

// merge sorts items by product id and adds up quantities of one product.
func merge(items []Item) ([]Item, error) {
	if len(items) == 0 {
		return nil, errors.New("reserve stock: no items")
	}
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b Item) int { return slices.Compare(a.ProductID[:], b.ProductID[:]) })
	merged := out[:0]
	for _, it := range out {
		if it.Quantity < 1 {
			return nil, fmt.Errorf("reserve stock: quantity %d of %s", it.Quantity, it.ProductID)
		}
		if k := len(merged) - 1; k >= 0 && merged[k].ProductID == it.ProductID {
			merged[k].Quantity += it.Quantity
			continue
		}
		merged = append(merged, it)
	}
	return merged, nil
}

// Release puts back what the order holds, once: each RESERVED reservation becomes RELEASED and
// its units return to on_hand. It returns the items released, none when the order holds
// nothing (never reserved, rejected, or released before). Runs in the caller's transaction.
func Release(ctx context.Context, tx pgx.Tx, orderID uuid.UUID) ([]Item, error) {
	rows, err := tx.Query(ctx, `UPDATE inventory.reservations SET status = 'RELEASED', released_at = now()
		WHERE order_id = $1 AND status = 'RESERVED' RETURNING product_id, quantity`, orderID)
	if err != nil {
		return nil, fmt.Errorf("release stock: %w", err)
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Item])
	if err != nil {
		return nil, fmt.Errorf("release stock: %w", err)
	}
	// Same lock order as Reserve.
	slices.SortFunc(items, func(a, b Item) int { return slices.Compare(a.ProductID[:], b.ProductID[:]) })
	for _, it := range items {
		if _, err := tx.Exec(ctx, `UPDATE inventory.stock SET on_hand = on_hand + $2, version = version + 1, updated_at = now()
			WHERE product_id = $1`, it.ProductID, it.Quantity); err != nil {
			return nil, fmt.Errorf("return stock: %w", err)
		}
	}
	return items, nil
}
