// Package function is release-stock: on order.cancelled it puts back what the order holds, once
// (each reservation goes from RESERVED to RELEASED and its units return to stock). An order
// that holds nothing (stock was rejected, or already released) is a no-op. Emits nothing.
package function

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
)

const name = "release-stock"

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(d.DB), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(db *pgxpool.Pool) *fn.App {
	return inbox.Route(fn.New(name), db, name, []string{events.OrderCancelled}, apply)
}

func apply(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
	var p events.OrderCancelledV1
	if err := env.Decode(&p); err != nil {
		return nil, err
	}
	released, err := inventory.Release(ctx, tx, p.OrderID)
	if err != nil {
		return nil, err
	}
	slog.InfoContext(ctx, "stock released", "order_id", p.OrderID, "reason", p.Reason, "lines", len(released))
	return nil, nil
}
