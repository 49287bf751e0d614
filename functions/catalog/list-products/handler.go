// Package function is list-products: GET /?q=&active=&limit=&cursor= lists live products in
// creation order, a page at a time (limit defaults to 20, capped at 100; follow next_cursor).
// It is public: callers without an admin token see active products only, whatever `active` says.
package function

import (
	"context"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/page"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(catalog.NewStore(d.DB)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *catalog.Store) *fn.App {
	return fn.New("list-products").Route("GET /{$}", func(w http.ResponseWriter, r *http.Request) error {
		pr, err := page.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		active, err := fn.QueryBool(r, "active")
		if err != nil {
			return err
		}
		if p, ok := auth.FromContext(r.Context()); !ok || !p.Has(auth.RoleAdmin) {
			on := true
			active = &on // the public sees what is for sale; admins see everything
		}
		f := catalog.Filter{Query: r.URL.Query().Get("q"), Active: active}
		if err := f.Validate(); err != nil {
			return err
		}
		p, err := store.List(r.Context(), f, pr)
		if err != nil {
			return err
		}
		fn.JSON(w, http.StatusOK, p)
		return nil
	})
}
