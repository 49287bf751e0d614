package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/idempotency"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/page"
)

// Store keeps products in the catalog schema.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const columns = "id, sku, name, description, price_amount, price_currency, active, version, created_at, updated_at"

var keyTable = idempotency.Table{"catalog", "idempotency_keys"}

func scan(row pgx.Row) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.Price.Amount, &p.Price.Currency, &p.Active, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// Create adds a product with an empty stock row, in one transaction. A retry is safe: with an
// idempotency key the first result is replayed; without one, a product with the same SKU and
// the same fields is returned as Existing, and one with different fields is ErrSKUTaken.
func (s *Store) Create(ctx context.Context, n NewProduct, key string) (idempotency.Result[Product], error) {
	active := n.Active == nil || *n.Active
	n.Active = &active // hash the request with its default applied
	res, err := idempotency.Create(ctx, s.db, keyTable, "create-product", key, n, func(tx pgx.Tx) (Product, idempotency.Outcome, error) {
		return insert(ctx, tx, n)
	})
	if err != nil {
		return res, fmt.Errorf("create product: %w", err)
	}
	return res, nil
}

func insert(ctx context.Context, tx pgx.Tx, n NewProduct) (Product, idempotency.Outcome, error) {
	active := *n.Active
	id, err := uuid.NewV7()
	if err != nil {
		return Product{}, 0, fmt.Errorf("new id: %w", err)
	}
	p, err := scan(tx.QueryRow(ctx, `INSERT INTO catalog.products (id, sku, name, description, price_amount, price_currency, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sku) DO NOTHING RETURNING `+columns,
		id, n.SKU, n.Name, n.Description, n.Price.Amount, n.Price.Currency, active))
	if errors.Is(err, pgx.ErrNoRows) {
		existing, err := scan(tx.QueryRow(ctx, "SELECT "+columns+" FROM catalog.products WHERE sku = $1 AND deleted_at IS NULL", n.SKU))
		if errors.Is(err, pgx.ErrNoRows) {
			return Product{}, 0, ErrSKUTaken // held by a deleted product
		}
		if err != nil {
			return Product{}, 0, err
		}
		if existing.Name != n.Name || existing.Description != n.Description || existing.Price != *n.Price || existing.Active != active {
			return Product{}, 0, ErrSKUTaken
		}
		return existing, idempotency.Existing, nil
	}
	if err != nil {
		return Product{}, 0, err
	}
	if err := inventory.Open(ctx, tx, p.ID); err != nil {
		return Product{}, 0, err
	}
	return p, idempotency.Created, nil
}

// Get returns a live product.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Product, error) {
	p, err := scan(s.db.QueryRow(ctx, "SELECT "+columns+" FROM catalog.products WHERE id = $1 AND deleted_at IS NULL", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, ErrNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("get product: %w", err)
	}
	return p, nil
}

// List returns live products in id (creation) order, one page at a time.
func (s *Store) List(ctx context.Context, f Filter, pr page.Request) (page.Page[Product], error) {
	var pattern *string
	if f.Query != "" {
		p := "%" + escapeLike(f.Query) + "%"
		pattern = &p
	}
	rows, err := s.db.Query(ctx, "SELECT "+columns+` FROM catalog.products
		WHERE deleted_at IS NULL
		  AND ($1::uuid IS NULL OR id > $1)
		  AND ($2::boolean IS NULL OR active = $2)
		  AND ($3::text IS NULL OR name ILIKE $3)
		ORDER BY id LIMIT $4`, pr.After, f.Active, pattern, pr.Limit+1)
	if err != nil {
		return page.Page[Product]{}, fmt.Errorf("list products: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Product, error) { return scan(r) })
	if err != nil {
		return page.Page[Product]{}, fmt.Errorf("list products: %w", err)
	}
	return page.Build(items, pr.Limit, func(p Product) uuid.UUID { return p.ID }), nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Update applies a patch. expected, when not nil, is the version the client last saw (from
// If-Match or the body); a different current version is ErrStale.
func (s *Store) Update(ctx context.Context, id uuid.UUID, p Patch, expected *int64) (Product, error) {
	out, err := scan(s.db.QueryRow(ctx, `UPDATE catalog.products SET
			name = COALESCE($2, name),
			description = COALESCE($3, description),
			price_amount = COALESCE($4, price_amount),
			price_currency = COALESCE($5, price_currency),
			active = COALESCE($6, active),
			version = version + 1,
			updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL AND ($7::bigint IS NULL OR version = $7)
		RETURNING `+columns,
		id, p.Name, p.Description, priceAmount(p.Price), priceCurrency(p.Price), p.Active, expected))
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, s.whyNoRow(ctx, id)
	}
	if err != nil {
		return Product{}, fmt.Errorf("update product: %w", err)
	}
	return out, nil
}

// Delete hides a product from reads. Deleting a product that is already deleted succeeds, so a
// retried delete is harmless; expected works as in Update.
func (s *Store) Delete(ctx context.Context, id uuid.UUID, expected *int64) error {
	tag, err := s.db.Exec(ctx, `UPDATE catalog.products SET deleted_at = now(), version = version + 1, updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR version = $2)`, id, expected)
	if err != nil {
		return fmt.Errorf("delete product: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var deleted bool
	err = s.db.QueryRow(ctx, "SELECT deleted_at IS NOT NULL FROM catalog.products WHERE id = $1", id).Scan(&deleted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("delete product: %w", err)
	case deleted:
		return nil
	default:
		return ErrStale
	}
}

// whyNoRow tells a missing product from a stale version after a guarded UPDATE matched nothing.
func (s *Store) whyNoRow(ctx context.Context, id uuid.UUID) error {
	var exists bool
	if err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM catalog.products WHERE id = $1 AND deleted_at IS NULL)", id).Scan(&exists); err != nil {
		return fmt.Errorf("update product: %w", err)
	}
	if !exists {
		return ErrNotFound
	}
	return ErrStale
}

func priceAmount(m *money.Money) *int64 {
	if m == nil {
		return nil
	}
	return &m.Amount
}

func priceCurrency(m *money.Money) *string {
	if m == nil {
		return nil
	}
	return &m.Currency
}
