package function

import (
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/customers/customerstest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// TestCustomersChangeOnlyThemselves: for random pairs, customer A changes A, and gets 404 for B
// with B unchanged.
func TestCustomersChangeOnlyThemselves(t *testing.T) {
	db := pgtest.New(t)
	store := customers.NewStore(db.Pool)
	app := newApp(store)
	cs := customerstest.Create(t, db.Pool, 6, nil)
	for i := range 12 {
		a, b := cs[rand.IntN(len(cs))], cs[rand.IntN(len(cs))]
		if a.ID == b.ID {
			continue
		}
		before, err := store.Get(t.Context(), b.ID)
		if err != nil {
			t.Fatal(err)
		}
		fntest.CallAs(t, fntest.Customer(a.ID), app, http.MethodPatch, "/"+b.ID.String(), map[string]any{"name": "Mallory", "version": before.Version}).
			ExpectError(t, http.StatusNotFound, "customer_not_found")
		after, err := store.Get(t.Context(), b.ID)
		if err != nil || after != before {
			t.Fatalf("pair %d: B changed by A: %+v", i, after)
		}
		self, err := store.Get(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		fntest.CallAs(t, fntest.Customer(a.ID), app, http.MethodPatch, "/"+a.ID.String(), map[string]any{"name": "Renamed", "version": self.Version}).Expect(t, http.StatusOK)
	}
	fntest.Call(t, app, http.MethodPatch, "/"+cs[0].ID.String(), map[string]any{"name": "x", "version": 1}).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
}
