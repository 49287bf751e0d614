// Package function is adjust-stock: on order.placed it reserves every line of the order or
// none, and emits stock.reserved (lines, total, customer) or stock.rejected (the short lines:
// requested and available). Each event counts once; stock never goes below zero.
package function

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

const name = "adjust-stock"

var app = deps.Setup(func(_ context.Context, d *deps.Deps) (*fn.App, error) {
	return newApp(d.DB), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func newApp(db *pgxpool.Pool) *fn.App {
	return inbox.Route(fn.New(name), db, name, []string{events.OrderPlaced}, apply)
}

func apply(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
	var p events.OrderPlacedV1
	if err := env.Decode(&p); err != nil {
		return nil, err
	}
	items := make([]inventory.Item, len(p.Lines))
	for i, l := range p.Lines {
		items[i] = inventory.Item{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	short, err := inventory.Reserve(ctx, tx, p.OrderID, items)
	if errors.Is(err, inventory.ErrAlreadyReserved) {
		slog.InfoContext(ctx, "order already holds stock; event changes nothing", "order_id", p.OrderID)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out events.Envelope
	if short != nil {
		out, err = events.New(events.StockRejected, p.OrderID.String(),
			events.StockRejectedV1{OrderID: p.OrderID, CustomerID: p.CustomerID, Short: short}, telemetry.ToMap(ctx))
	} else {
		out, err = events.New(events.StockReserved, p.OrderID.String(),
			events.StockReservedV1{OrderID: p.OrderID, CustomerID: p.CustomerID, Lines: p.Lines, Total: p.Total}, telemetry.ToMap(ctx))
	}
	if err != nil {
		return nil, err
	}
	return []events.Envelope{out}, nil
}
