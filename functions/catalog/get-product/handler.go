// Package function is get-product: GET /{id} returns one live product. It is public; an
// inactive product is shown to admins only.
package function

import (
	"context"
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
	return fn.New("get-product").Route("GET /{id}", func(w http.ResponseWriter, r *http.Request) error {
		id, err := fn.PathUUID(r, "id")
		if err != nil {
			return err
		}
		p, err := store.Get(r.Context(), id)
		if err != nil {
			return err
		}
		if !p.Active && !isAdmin(r) {
			return catalog.ErrNotFound // inactive products are for the shop's staff only
		}
		w.Header().Set("ETag", fn.ETag(p.Version))
		fn.JSON(w, http.StatusOK, p)
		return nil
	})
}

func isAdmin(r *http.Request) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && p.Has(auth.RoleAdmin)
}
