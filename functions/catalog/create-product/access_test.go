package function

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// TestOnlyAdminsCreateProducts: no caller is 401, a customer is 403, and neither creates a
// product; injected stock or ids are refused as unknown fields.
func TestOnlyAdminsCreateProducts(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))
	in := catalogtest.New()
	fntest.Call(t, app, http.MethodPost, "/", in).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
	fntest.CallAs(t, fntest.Customer(uuid.New()), app, http.MethodPost, "/", in).ExpectError(t, http.StatusForbidden, "forbidden")
	injected := map[string]any{"sku": "X-1", "name": "X", "price": map[string]any{"amount": 1, "currency": "EUR"}, "id": uuid.NewString()}
	fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", injected).ExpectError(t, http.StatusBadRequest, "unknown_field", "id")
	if n := catalogtest.Count(t, db.Pool); n != 0 {
		t.Fatalf("refused callers created %d products", n)
	}
}
