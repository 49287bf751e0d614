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

// TestPublicSeesActiveProductsOnly: anyone reads an active product; an inactive one is 404 for
// everyone but admins.
func TestPublicSeesActiveProductsOnly(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))
	ps := catalogtest.Create(t, db.Pool, 2, func(i int, p *catalog.NewProduct) {
		active := i == 0
		p.Active = &active
	})
	fntest.Call(t, app, http.MethodGet, "/"+ps[0].ID.String(), nil).Expect(t, http.StatusOK)
	fntest.Call(t, app, http.MethodGet, "/"+ps[1].ID.String(), nil).ExpectError(t, http.StatusNotFound, "product_not_found")
	fntest.CallAs(t, fntest.Customer(uuid.New()), app, http.MethodGet, "/"+ps[1].ID.String(), nil).ExpectError(t, http.StatusNotFound, "product_not_found")
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/"+ps[1].ID.String(), nil).Expect(t, http.StatusOK)
}
