// Package function is register-customer: POST / registers a customer. Safe to retry: send an
// Idempotency-Key to get the first result back, or rely on the e-mail address (the same address
// with the same fields returns the existing customer with 200).
package function

import (
	"context"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/idempotency"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(customers.NewStore(d.DB)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *customers.Store) *fn.App {
	return fn.New("register-customer").Route("POST /{$}", func(w http.ResponseWriter, r *http.Request) error {
		key, err := idempotency.KeyFrom(r)
		if err != nil {
			return err
		}
		in, err := fn.DecodeInput[customers.NewCustomer](r)
		if err != nil {
			return err
		}
		res, err := store.Create(r.Context(), in, key)
		if err != nil {
			return err
		}
		idempotency.Write(w, res, "/function/get-customer/"+res.Value.ID.String(), fn.ETag(res.Value.Version))
		return nil
	})
}
