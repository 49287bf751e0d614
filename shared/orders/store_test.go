package orders_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/orders"
	"github.com/faas-commerce/faas-commerce/shared/orders/ordertest"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// TestSettlesOnceUnderRace completes and cancels each order at the same time: exactly one
// transition wins and exactly one event says so.
func TestSettlesOnceUnderRace(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	for range 10 {
		o := ordertest.Place(t, db.Pool, uuid.New(), orders.Item{ProductID: uuid.New(), Quantity: 1})
		var wg sync.WaitGroup
		emitted := make(chan int, 2)
		for _, settle := range []func(pgx.Tx) ([]events.Envelope, error){
			func(tx pgx.Tx) ([]events.Envelope, error) { return orders.Complete(ctx, tx, o.ID, o.CustomerID) },
			func(tx pgx.Tx) ([]events.Envelope, error) {
				return orders.Cancel(ctx, tx, o.ID, o.CustomerID, orders.ReasonPaymentFailed)
			},
		} {
			wg.Go(func() {
				err := pg.InTx(ctx, db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
					out, err := settle(tx)
					emitted <- len(out)
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		close(emitted)
		total := 0
		for n := range emitted {
			total += n
		}
		got, err := orders.NewStore(db.Pool).Get(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || got.Status == orders.Pending || got.Version != 2 {
			t.Fatalf("%d events, order %+v", total, got)
		}
	}
}

func TestConstraintsRefuseInvalidOrders(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	o := ordertest.Place(t, db.Pool, uuid.New(), orders.Item{ProductID: uuid.New(), Quantity: 1})
	for name, sql := range map[string]string{
		"line in another currency": "INSERT INTO orders.order_lines VALUES ($1, 2, gen_random_uuid(), 1, 100, 'USD')",
		"cancelled without reason": "UPDATE orders.orders SET status = 'CANCELLED' WHERE id = $1",
		"unknown reason":           "UPDATE orders.orders SET status = 'CANCELLED', cancel_reason = 'bored' WHERE id = $1",
		"reason on a pending one":  "UPDATE orders.orders SET cancel_reason = 'payment_failed' WHERE id = $1",
		"line 51":                  "INSERT INTO orders.order_lines VALUES ($1, 51, gen_random_uuid(), 1, 100, 'EUR')",
	} {
		if _, err := db.Pool.Exec(ctx, sql, o.ID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
