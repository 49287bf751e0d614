// Package function is complete-order: on payment.succeeded it moves the order from PENDING to
// COMPLETED and emits order.completed. Each event counts once; an order already COMPLETED or
// CANCELLED stays so (200, nothing emitted); an unknown order is 404, so the event is
// dead-lettered instead of retried.
package function

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/orders"
)

const name = "complete-order"

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(d.DB), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(db *pgxpool.Pool) *fn.App {
	return inbox.Route(fn.New(name), db, name, []string{events.PaymentSucceeded}, apply)
}

func apply(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
	var p events.PaymentSucceededV1
	if err := env.Decode(&p); err != nil {
		return nil, err
	}
	return orders.Complete(ctx, tx, p.OrderID, p.CustomerID)
}
