// Package function is create-product: POST / adds a product (admin). Safe to retry: send an
// Idempotency-Key to get the first result back, or rely on the SKU (the same SKU with the same
// fields returns the existing product with 200).
package function

import (
	"context"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/idempotency"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(catalog.NewStore(d.DB)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *catalog.Store) *fn.App {
	return fn.New("create-product").Route("POST /{$}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := auth.Require(r.Context(), auth.RoleAdmin); err != nil {
			return err
		}
		key, err := idempotency.KeyFrom(r)
		if err != nil {
			return err
		}
		in, err := fn.DecodeInput[catalog.NewProduct](r)
		if err != nil {
			return err
		}
		res, err := store.Create(r.Context(), in, key)
		if err != nil {
			return err
		}
		idempotency.Write(w, res, "/function/get-product/"+res.Value.ID.String(), fn.ETag(res.Value.Version))
		return nil
	})
}
