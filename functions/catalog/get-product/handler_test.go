package function

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func TestGetProduct(t *testing.T) {
	db := pgtest.New(t)
	store := catalog.NewStore(db.Pool)
	app := newApp(store)
	want := catalogtest.Create(t, db.Pool, 1, nil)[0]

	var got catalog.Product
	resp := fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/"+want.ID.String(), nil).Expect(t, http.StatusOK)
	resp.Decode(t, &got)
	if !got.CreatedAt.Equal(want.CreatedAt) || got.ID != want.ID || got.SKU != want.SKU || got.Price != want.Price {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if resp.Header.Get("ETag") != `"1"` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", resp.Header)
	}

	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/"+uuid.NewString(), nil).ExpectError(t, http.StatusNotFound, "product_not_found")
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/not-a-uuid", nil).ExpectError(t, http.StatusBadRequest, "invalid_parameter", "id")
	for _, alias := range []string{strings.ToUpper(want.ID.String()), strings.ReplaceAll(want.ID.String(), "-", ""), "urn:uuid:" + want.ID.String()} {
		fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/"+alias, nil).ExpectError(t, http.StatusBadRequest, "invalid_parameter", "id")
	}
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/", nil).ExpectError(t, http.StatusNotFound, "not_found")
	fntest.CallAs(t, fntest.Admin, app, http.MethodDelete, "/"+want.ID.String(), nil).ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")

	if err := store.Delete(t.Context(), want.ID, nil); err != nil {
		t.Fatal(err)
	}
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/"+want.ID.String(), nil).ExpectError(t, http.StatusNotFound, "product_not_found")
}
