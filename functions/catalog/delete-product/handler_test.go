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

func TestDeleteProduct(t *testing.T) {
	db := pgtest.New(t)
	store := catalog.NewStore(db.Pool)
	app := newApp(store)
	ps := catalogtest.Create(t, db.Pool, 2, nil)

	fntest.CallAs(t, fntest.Admin, app, http.MethodDelete, "/"+ps[0].ID.String(), nil, "If-Match", `"5"`).ExpectError(t, http.StatusPreconditionFailed, "precondition_failed")
	if _, err := store.Get(t.Context(), ps[0].ID); err != nil {
		t.Fatalf("a refused delete removed the product: %v", err)
	}

	fntest.CallAs(t, fntest.Admin, app, http.MethodDelete, "/"+ps[0].ID.String(), nil, "If-Match", `"1"`).Expect(t, http.StatusNoContent)
	if _, err := store.Get(t.Context(), ps[0].ID); err != catalog.ErrNotFound {
		t.Fatalf("deleted product still readable: %v", err)
	}
	// A retried delete is harmless.
	fntest.CallAs(t, fntest.Admin, app, http.MethodDelete, "/"+ps[0].ID.String(), nil).Expect(t, http.StatusNoContent)

	fntest.CallAs(t, fntest.Admin, app, http.MethodDelete, "/"+uuid.NewString(), nil).ExpectError(t, http.StatusNotFound, "product_not_found")
	fntest.CallAs(t, fntest.Admin, app, http.MethodDelete, "/x", nil).ExpectError(t, http.StatusBadRequest, "invalid_parameter", "id")

	if _, err := store.Get(t.Context(), ps[1].ID); err != nil {
		t.Fatalf("the other product went too: %v", err)
	}
	// The SKU stays taken by the deleted product.
	n := catalogtest.New()
	n.SKU = ps[0].SKU
	if _, err := store.Create(t.Context(), n, ""); err == nil {
		t.Fatal("a deleted product's SKU was reused")
	}
}
