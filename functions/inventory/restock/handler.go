// Package function is restock: POST /{product_id} with {"quantity": n} adds n units to a
// product's stock and records the restock (admin). Safe to retry with an Idempotency-Key.
package function

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/idempotency"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(d.DB), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(db *pgxpool.Pool) *fn.App {
	return fn.New("restock", fn.WithBodyLimit(4<<10)).Route("POST /{product_id}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := auth.Require(r.Context(), auth.RoleAdmin); err != nil {
			return err
		}
		productID, err := fn.PathUUID(r, "product_id")
		if err != nil {
			return err
		}
		key := r.Header.Get(idempotency.Header)
		if err := idempotency.CheckKey(key); err != nil {
			return err
		}
		var in inventory.NewRestock
		if err := fn.Decode(r, &in); err != nil {
			return err
		}
		if err := in.Validate(); err != nil {
			return err
		}
		res, err := inventory.AddStock(r.Context(), db, productID, *in.Quantity, key)
		if err != nil {
			return err
		}
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Location", "/function/get-stock/"+productID.String())
		fn.JSON(w, res.Status(), res.Value)
		return nil
	})
}
