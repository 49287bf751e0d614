// Package catalogtest makes products for tests of functions that need some.
package catalogtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/money"
)

var seq atomic.Int64

// New returns a valid NewProduct with a unique SKU.
func New() catalog.NewProduct {
	n := seq.Add(1)
	return catalog.NewProduct{
		SKU:         fmt.Sprintf("SKU-%04d", n),
		Name:        fmt.Sprintf("Product %d", n),
		Description: "A fine thing",
		Price:       &money.Money{Amount: 1999, Currency: "EUR"},
	}
}

// Create stores products made by New, changed by edit when it is not nil.
func Create(t testing.TB, db *pgxpool.Pool, count int, edit func(i int, p *catalog.NewProduct)) []catalog.Product {
	t.Helper()
	store := catalog.NewStore(db)
	out := make([]catalog.Product, 0, count)
	for i := range count {
		n := New()
		if edit != nil {
			edit(i, &n)
		}
		res, err := store.Create(context.Background(), n, "")
		if err != nil {
			t.Fatalf("catalogtest: create %+v: %v", n, err)
		}
		out = append(out, res.Value)
	}
	return out
}

// Count returns how many product rows exist, deleted ones included.
func Count(t testing.TB, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT count(*) FROM catalog.products").Scan(&n); err != nil {
		t.Fatalf("catalogtest: count: %v", err)
	}
	return n
}
