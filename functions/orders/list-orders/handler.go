// Package function is list-orders: GET /?status=&limit=&cursor= lists orders in creation order,
// a page at a time (limit defaults to 20, capped at 100; follow next_cursor). A customer lists
// their own orders; an admin lists everyone's or one customer's with customer_id=.
package function

import (
	"context"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/orders"
	"github.com/faas-commerce/faas-commerce/shared/page"
)

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(orders.NewStore(d.DB)), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(store *orders.Store) *fn.App {
	return fn.New("list-orders").Route("GET /{$}", func(w http.ResponseWriter, r *http.Request) error {
		p, err := auth.Require(r.Context(), auth.RoleCustomer, auth.RoleAdmin)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		pr, err := page.FromQuery(q)
		if err != nil {
			return err
		}
		status, err := orders.ParseStatus(q.Get("status"))
		if err != nil {
			return err
		}
		customer, err := orders.ParseCustomerID(q.Get("customer_id"))
		if err != nil {
			return err
		}
		if customer, err = orders.ListScope(p, customer); err != nil {
			return err
		}
		pg, err := store.List(r.Context(), orders.Filter{CustomerID: customer, Status: status}, pr)
		if err != nil {
			return err
		}
		fn.JSON(w, http.StatusOK, pg)
		return nil
	})
}
