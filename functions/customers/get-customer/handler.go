// Package function is get-customer: GET /{id} returns one customer.
package function

import (
	"context"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(customers.NewStore(d.DB)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *customers.Store) *fn.App {
	return fn.New("get-customer").Route("GET /{id}", func(w http.ResponseWriter, r *http.Request) error {
		p, err := auth.Require(r.Context(), auth.RoleCustomer, auth.RoleAdmin)
		if err != nil {
			return err
		}
		id, err := fn.PathUUID(r, "id")
		if err != nil {
			return err
		}
		if !p.ActsFor(id) {
			return customers.ErrNotFound
		}
		c, err := store.Get(r.Context(), id)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", fn.ETag(c.Version))
		fn.JSON(w, http.StatusOK, c)
		return nil
	})
}
