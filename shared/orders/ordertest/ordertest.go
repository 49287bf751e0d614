// Package ordertest makes orders and order events for tests of functions that need some.
package ordertest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/orders"
)

// Prices is a Pricer with fixed prices; a product it does not list is not on sale.
type Prices map[uuid.UUID]money.Money

// Price implements orders.Pricer.
func (p Prices) Price(_ context.Context, items []orders.Item) ([]orders.Line, error) {
	lines := make([]orders.Line, len(items))
	for i, it := range items {
		price, ok := p[it.ProductID]
		if !ok {
			return nil, fmt.Errorf("ordertest: no price for product %s", it.ProductID)
		}
		t, err := price.Mul(int64(it.Quantity))
		if err != nil {
			return nil, err
		}
		lines[i] = orders.Line{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: price, LineTotal: t}
	}
	return lines, nil
}

// Place stores a PENDING order of customer for items, each product at 1.00 EUR.
func Place(t testing.TB, db *pgxpool.Pool, customerID uuid.UUID, items ...orders.Item) orders.Order {
	t.Helper()
	prices := Prices{}
	for _, it := range items {
		prices[it.ProductID] = money.Money{Amount: 100, Currency: "EUR"}
	}
	res, err := orders.NewStore(db).Place(context.Background(), customerID, items, prices, "")
	if err != nil {
		t.Fatalf("ordertest: place: %v", err)
	}
	return res.Value
}

// Event makes an envelope of eventType for order with payload.
func Event(t testing.TB, eventType string, orderID uuid.UUID, payload any) events.Envelope {
	t.Helper()
	e, err := events.New(eventType, orderID.String(), payload, nil)
	if err != nil {
		t.Fatalf("ordertest: event: %v", err)
	}
	return e
}

// Placed is the order.placed event of o.
func Placed(t testing.TB, o orders.Order) events.Envelope {
	t.Helper()
	p := events.OrderPlacedV1{OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total}
	for _, l := range o.Lines {
		p.Lines = append(p.Lines, events.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
	}
	return Event(t, events.OrderPlaced, o.ID, p)
}

// Count returns how many orders exist.
func Count(t testing.TB, db *pgxpool.Pool) int {
	t.Helper()
	return count(t, db, "SELECT count(*) FROM orders.orders")
}

// Outbox returns the events of eventType in the outbox for an order (correlation id), oldest
// first.
func Outbox(t testing.TB, db *pgxpool.Pool, eventType string, orderID uuid.UUID) []events.Envelope {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT envelope FROM messaging.outbox WHERE event_type = $1 AND correlation_id = $2 ORDER BY seq",
		eventType, orderID.String())
	if err != nil {
		t.Fatalf("ordertest: outbox: %v", err)
	}
	defer rows.Close()
	var out []events.Envelope
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatalf("ordertest: outbox: %v", err)
		}
		var e events.Envelope
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("ordertest: outbox: %v", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("ordertest: outbox: %v", err)
	}
	return out
}

// OutboxCount returns how many events the outbox holds.
func OutboxCount(t testing.TB, db *pgxpool.Pool) int {
	t.Helper()
	return count(t, db, "SELECT count(*) FROM messaging.outbox")
}

func count(t testing.TB, db *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("ordertest: count: %v", err)
	}
	return n
}

// PlaceOne places an order of two units of a new product for a new customer.
func PlaceOne(t testing.TB, db *pgxpool.Pool) orders.Order {
	t.Helper()
	return Place(t, db, uuid.New(), orders.Item{ProductID: uuid.New(), Quantity: 2})
}

// Get reads an order back.
func Get(t testing.TB, db *pgxpool.Pool, id uuid.UUID) orders.Order {
	t.Helper()
	o, err := orders.NewStore(db).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
