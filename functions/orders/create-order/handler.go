// Package function is create-order: POST / places an order for the calling customer. Prices
// come from get-product through the gateway, never from the client. The order is PENDING until
// stock and payment settle it; the answer is 202 with the order and its Location. Safe to
// retry with an Idempotency-Key (keys are per customer).
package function

import (
	"context"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/gateway"
	"github.com/faas-commerce/faas-commerce/shared/idempotency"
	"github.com/faas-commerce/faas-commerce/shared/orders"
)

// bodyLimit fits 50 lines with room to spare.
const bodyLimit = 64 << 10

var app = deps.Setup(func(ctx context.Context, d *deps.Deps) (*fn.App, error) {
	var cfg gateway.Config
	if err := d.Source.Load(ctx, &cfg, nil); err != nil {
		return nil, err
	}
	// Retries with backoff and a circuit breaker, set by CATALOG_* variables.
	hc, err := d.HTTPClient(ctx, orders.GetProductFunction, "CATALOG_")
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(cfg, hc)
	if err != nil {
		return nil, err
	}
	return newApp(orders.NewStore(d.DB), orders.NewCatalog(gw)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *orders.Store, prices orders.Pricer) *fn.App {
	return fn.New("create-order", fn.WithBodyLimit(bodyLimit)).Route("POST /{$}", func(w http.ResponseWriter, r *http.Request) error {
		p, err := auth.Require(r.Context(), auth.RoleCustomer)
		if err != nil {
			return err
		}
		customerID, ok := p.CustomerID()
		if !ok {
			return auth.ErrForbidden
		}
		key := r.Header.Get(idempotency.Header)
		if err := idempotency.CheckKey(key); err != nil {
			return err
		}
		var in orders.NewOrder
		if err := fn.Decode(r, &in); err != nil {
			return err
		}
		items, err := in.Items()
		if err != nil {
			return err
		}
		res, err := store.Place(r.Context(), customerID, items, prices, key)
		if err != nil {
			return err
		}
		o := res.Value
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Location", "/function/get-order/"+o.ID.String())
		fn.JSON(w, http.StatusAccepted, o)
		return nil
	})
}
