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

// TestCustomersSeeOnlyThemselves: for random pairs, customer A reads A and gets 404 (never the
// data) for B; no token is 401.
func TestCustomersSeeOnlyThemselves(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(customers.NewStore(db.Pool))
	cs := customerstest.Create(t, db.Pool, 6, nil)
	for range 12 {
		a, b := cs[rand.IntN(len(cs))], cs[rand.IntN(len(cs))]
		var got customers.Customer
		fntest.CallAs(t, fntest.Customer(a.ID), app, http.MethodGet, "/"+a.ID.String(), nil).Expect(t, http.StatusOK).Decode(t, &got)
		if got.ID != a.ID {
			t.Fatalf("A read %s", got.ID)
		}
		if a.ID != b.ID {
			resp := fntest.CallAs(t, fntest.Customer(a.ID), app, http.MethodGet, "/"+b.ID.String(), nil)
			resp.ExpectError(t, http.StatusNotFound, "customer_not_found")
		}
	}
	fntest.Call(t, app, http.MethodGet, "/"+cs[0].ID.String(), nil).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
}
