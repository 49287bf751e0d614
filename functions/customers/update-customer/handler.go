// Package function is update-customer: PATCH /{id} changes some of a customer's fields.
// Optimistic concurrency: send If-Match with the ETag you read (412 when it is stale) or
// "version" in the body (409 when it is stale); without either the update is refused with 428.
// "phone": "" removes the phone number, allowed only when SMS notifications end up off.
package function

import (
	"context"
	"errors"
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
	return fn.New("update-customer").Route("PATCH /{id}", func(w http.ResponseWriter, r *http.Request) error {
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
		ifMatch, err := fn.IfMatchVersion(r)
		if err != nil {
			return err
		}
		in, err := fn.DecodeInput[customers.Patch](r)
		if err != nil {
			return err
		}
		expected, err := fn.ExpectedVersion(ifMatch, in.Version)
		if err != nil {
			return err
		}
		c, err := store.Update(r.Context(), id, in, expected)
		if errors.Is(err, customers.ErrStale) && ifMatch != nil {
			return fn.ErrStaleETag
		}
		if err != nil {
			return err
		}
		w.Header().Set("ETag", fn.ETag(c.Version))
		fn.JSON(w, http.StatusOK, c)
		return nil
	})
}
