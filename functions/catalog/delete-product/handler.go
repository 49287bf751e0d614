// Package function is delete-product: DELETE /{id} removes a product from the catalog (admin).
// Orders keep referring to it; reads no longer show it. Deleting twice is harmless (204 again).
// If-Match, when sent, must hold the current ETag (412 otherwise).
package function

import (
	"context"
	"errors"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(catalog.NewStore(d.DB)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *catalog.Store) *fn.App {
	return fn.New("delete-product").Route("DELETE /{id}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := auth.Require(r.Context(), auth.RoleAdmin); err != nil {
			return err
		}
		id, err := fn.PathUUID(r, "id")
		if err != nil {
			return err
		}
		ifMatch, err := fn.IfMatchVersion(r)
		if err != nil {
			return err
		}
		err = store.Delete(r.Context(), id, ifMatch)
		if errors.Is(err, catalog.ErrStale) {
			return fn.ErrStaleETag
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
