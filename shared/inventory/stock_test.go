package inventory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func inTx(t *testing.T, db *pgtest.DB, f func(tx pgx.Tx) error) {
	t.Helper()
	if err := pg.InTx(context.Background(), db.Pool, pg.TxOptions{}, f); err != nil {
		t.Fatal(err)
	}
}

func reserve(t *testing.T, db *pgtest.DB, order uuid.UUID, items ...inventory.Item) (short []events.Shortage) {
	t.Helper()
	inTx(t, db, func(tx pgx.Tx) (err error) {
		short, err = inventory.Reserve(context.Background(), tx, order, items)
		return err
	})
	return short
}

func release(t *testing.T, db *pgtest.DB, order uuid.UUID) (items []inventory.Item) {
	t.Helper()
	inTx(t, db, func(tx pgx.Tx) (err error) {
		items, err = inventory.Release(context.Background(), tx, order)
		return err
	})
	return items
}

func restock(t *testing.T, db *pgtest.DB, product uuid.UUID, q int) {
	t.Helper()
	if _, err := inventory.AddStock(context.Background(), db.Pool, product, q, ""); err != nil {
		t.Fatal(err)
	}
}

func stock(t *testing.T, db *pgtest.DB, product uuid.UUID) inventory.Stock {
	t.Helper()
	s, err := inventory.Get(context.Background(), db.Pool, product)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStockIsConserved runs reserves, rejections, releases and restocks and checks after each
// that initial + restocked - reserved + released = on_hand, from the records the store keeps.
func TestStockIsConserved(t *testing.T) {
	db := pgtest.New(t)
	ps := catalogtest.Create(t, db.Pool, 2, nil)
	a, b := ps[0].ID, ps[1].ID
	check := func(step string) {
		t.Helper()
		for _, p := range []uuid.UUID{a, b} {
			var restocked, reserved, released, onHand int64
			err := db.Pool.QueryRow(context.Background(), `SELECT
				(SELECT COALESCE(sum(quantity), 0) FROM inventory.restocks WHERE product_id = $1),
				(SELECT COALESCE(sum(quantity), 0) FROM inventory.reservations WHERE product_id = $1),
				(SELECT COALESCE(sum(quantity), 0) FROM inventory.reservations WHERE product_id = $1 AND status = 'RELEASED'),
				(SELECT on_hand FROM inventory.stock WHERE product_id = $1)`, p).Scan(&restocked, &reserved, &released, &onHand)
			if err != nil {
				t.Fatal(err)
			}
			if 0+restocked-reserved+released != onHand {
				t.Fatalf("%s: restocked %d - reserved %d + released %d != on hand %d", step, restocked, reserved, released, onHand)
			}
			s := stock(t, db, p)
			if s.OnHand != onHand || s.Reserved != reserved-released {
				t.Fatalf("%s: Get says %+v; on hand %d, held %d", step, s, onHand, reserved-released)
			}
		}
	}
	check("new products")
	restock(t, db, a, 10)
	restock(t, db, b, 3)
	check("restocked")
	o1, o2, o3 := uuid.New(), uuid.New(), uuid.New()
	if short := reserve(t, db, o1, inventory.Item{ProductID: a, Quantity: 4}, inventory.Item{ProductID: b, Quantity: 3}); short != nil {
		t.Fatalf("short %+v", short)
	}
	check("reserved o1")
	short := reserve(t, db, o2, inventory.Item{ProductID: a, Quantity: 6}, inventory.Item{ProductID: b, Quantity: 1})
	if len(short) != 1 || short[0] != (events.Shortage{ProductID: b, Requested: 1, Available: 0}) {
		t.Fatalf("short %+v", short)
	}
	if s := stock(t, db, a); s.OnHand != 6 {
		t.Fatalf("a rejected order took stock: %+v", s)
	}
	check("rejected o2")
	if got := release(t, db, o1); len(got) != 2 {
		t.Fatalf("released %+v", got)
	}
	check("released o1")
	if got := release(t, db, o1); len(got) != 0 {
		t.Fatalf("released twice: %+v", got)
	}
	if got := release(t, db, o2); len(got) != 0 {
		t.Fatalf("released a rejected order: %+v", got)
	}
	check("released again")
	if short := reserve(t, db, o3, inventory.Item{ProductID: a, Quantity: 10}, inventory.Item{ProductID: b, Quantity: 3}); short != nil {
		t.Fatalf("short %+v", short)
	}
	restock(t, db, a, 1)
	check("reserved o3, restocked")
	if s := stock(t, db, a); s.OnHand != 1 || s.Reserved != 10 {
		t.Fatalf("stock %+v", s)
	}
	inTx(t, db, func(tx pgx.Tx) error {
		_, err := inventory.Reserve(context.Background(), tx, o3, []inventory.Item{{ProductID: a, Quantity: 1}})
		if !errors.Is(err, inventory.ErrAlreadyReserved) {
			t.Fatalf("second reservation of one order: %v", err)
		}
		return nil
	})
	check("end")
}

func TestReserveMergesAndCountsMissingStockAsNone(t *testing.T) {
	db := pgtest.New(t)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0].ID
	restock(t, db, p, 5)
	ghost := uuid.New()
	short := reserve(t, db, uuid.New(), inventory.Item{ProductID: p, Quantity: 3}, inventory.Item{ProductID: p, Quantity: 3}, inventory.Item{ProductID: ghost, Quantity: 1})
	want := map[uuid.UUID]events.Shortage{
		p:     {ProductID: p, Requested: 6, Available: 5},
		ghost: {ProductID: ghost, Requested: 1, Available: 0},
	}
	if len(short) != 2 || short[0] != want[short[0].ProductID] || short[1] != want[short[1].ProductID] {
		t.Fatalf("short %+v", short)
	}
	if s := stock(t, db, p); s.OnHand != 5 || s.Reserved != 0 {
		t.Fatalf("stock %+v", s)
	}
}

func TestAddStock(t *testing.T) {
	db := pgtest.New(t)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0].ID
	ctx := context.Background()
	first, err := inventory.AddStock(ctx, db.Pool, p, 7, "k")
	if err != nil || first.Value.Stock.OnHand != 7 || first.Replayed {
		t.Fatalf("%+v, %v", first, err)
	}
	again, err := inventory.AddStock(ctx, db.Pool, p, 7, "k")
	if err != nil || !again.Replayed || again.Value.ID != first.Value.ID || stock(t, db, p).OnHand != 7 {
		t.Fatalf("replay %+v, %v", again, err)
	}
	if _, err := inventory.AddStock(ctx, db.Pool, uuid.New(), 1, ""); !errors.Is(err, inventory.ErrNotFound) {
		t.Fatalf("unknown product: %v", err)
	}
}
