// Package function is update-product: PATCH /{id} changes some of a product's fields (admin).
// Optimistic concurrency: send If-Match with the ETag you read (412 when it is stale) or
// "version" in the body (409 when it is stale); without either the update is refused with 428.
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
	return fn.New("update-product").Route("PATCH /{id}", func(w http.ResponseWriter, r *http.Request) error {
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
		in, err := fn.DecodeInput[catalog.Patch](r)
		if err != nil {
			return err
		}
		expected, err := fn.ExpectedVersion(ifMatch, in.Version)
		if err != nil {
			return err
		}
		p, err := store.Update(r.Context(), id, in, expected)
		if errors.Is(err, catalog.ErrStale) && ifMatch != nil {
			return fn.ErrStaleETag
		}
		if err != nil {
			return err
		}
		w.Header().Set("ETag", fn.ETag(p.Version))
		fn.JSON(w, http.StatusOK, p)
		return nil
	})
}
