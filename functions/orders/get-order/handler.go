// Package function is get-order: GET /{id} returns one order with its lines. A customer sees
// only their own orders (another's is 404, as if it did not exist); an admin sees any.
package function

import (
	"context"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/orders"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(orders.NewStore(d.DB)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *orders.Store) *fn.App {
	return fn.New("get-order").Route("GET /{id}", func(w http.ResponseWriter, r *http.Request) error {
		p, err := auth.Require(r.Context(), auth.RoleCustomer, auth.RoleAdmin)
		if err != nil {
			return err
		}
		id, err := fn.PathUUID(r, "id")
		if err != nil {
			return err
		}
		o, err := store.Get(r.Context(), id)
		if err != nil {
			return err
		}
		if !orders.Visible(p, o.CustomerID) {
			return orders.ErrNotFound
		}
		w.Header().Set("ETag", fn.ETag(o.Version))
		fn.JSON(w, http.StatusOK, o)
		return nil
	})
}
