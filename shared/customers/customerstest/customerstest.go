// Package customerstest makes customers for tests of functions that need some.
package customerstest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/customers"
)

var seq atomic.Int64

// Password is the password of every customer New makes.
const Password = "correct horse battery staple"

// New returns a valid NewCustomer with a unique e-mail address, no phone number and Password.
func New() customers.NewCustomer {
	n := seq.Add(1)
	return customers.NewCustomer{
		Email:    fmt.Sprintf("customer%04d@example.com", n),
		Name:     fmt.Sprintf("Customer %d", n),
		Password: Password,
	}
}

// Create stores customers made by New, changed by edit when it is not nil.
func Create(t testing.TB, db *pgxpool.Pool, count int, edit func(i int, c *customers.NewCustomer)) []customers.Customer {
	t.Helper()
	store := customers.NewStore(db)
	out := make([]customers.Customer, 0, count)
	for i := range count {
		n := New()
		if edit != nil {
			edit(i, &n)
		}
		res, err := store.Create(context.Background(), n, "")
		if err != nil {
			t.Fatalf("customerstest: create %+v: %v", n, err)
		}
		out = append(out, res.Value)
	}
	return out
}

// Count returns how many customer rows exist.
func Count(t testing.TB, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT count(*) FROM customers.customers").Scan(&n); err != nil {
		t.Fatalf("customerstest: count: %v", err)
	}
	return n
}
