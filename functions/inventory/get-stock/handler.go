// Package function is get-stock: GET /{product_id} returns a product's stock (admin): units on
// hand (free to sell), units reserved by open orders, version and last change.
package function

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(d.DB), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(db *pgxpool.Pool) *fn.App {
	return fn.New("get-stock").Route("GET /{product_id}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := auth.Require(r.Context(), auth.RoleAdmin); err != nil {
			return err
		}
		productID, err := fn.PathUUID(r, "product_id")
		if err != nil {
			return err
		}
		s, err := inventory.Get(r.Context(), db, productID)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", fn.ETag(s.Version))
		fn.JSON(w, http.StatusOK, s)
		return nil
	})
}
