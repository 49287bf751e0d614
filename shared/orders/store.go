package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/idempotency"
	"github.com/faas-commerce/faas-commerce/shared/outbox"
	"github.com/faas-commerce/faas-commerce/shared/page"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Store keeps orders in the orders schema.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const columns = "id, customer_id, status, total_amount, currency, COALESCE(cancel_reason, ''), version, created_at, updated_at"

var keyTable = idempotency.Table{"orders", "idempotency_keys"}

func scan(row pgx.Row) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.CustomerID, &o.Status, &o.Total.Amount, &o.Total.Currency, &o.CancelReason, &o.Version, &o.CreatedAt, &o.UpdatedAt)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// scope keeps one customer's idempotency keys apart from another's.
func scope(customerID uuid.UUID) string { return "create-order:" + customerID.String() }

// Place prices items with pricer and writes the order, PENDING, with its lines and its
// order.placed event in one transaction. With an idempotency key the first result is replayed
// (without asking pricer again); the same key with other items is idempotency.ErrKeyReused.
func (s *Store) Place(ctx context.Context, customerID uuid.UUID, items []Item, pricer Pricer, key string) (idempotency.Result[Order], error) {
	var lines []Line
	used, err := s.keyUsed(ctx, customerID, key)
	if err != nil {
		return idempotency.Result[Order]{}, err
	}
	if !used {
		// Outside the transaction: no connection is held while the catalog answers.
		if lines, err = pricer.Price(ctx, items); err != nil {
			return idempotency.Result[Order]{}, err
		}
	}
	res, err := idempotency.Create(ctx, s.db, keyTable, scope(customerID), key, items, func(tx pgx.Tx) (Order, idempotency.Outcome, error) {
		if lines == nil {
			return Order{}, 0, errors.New("idempotency key was used, yet its request is not replayed")
		}
		return insert(ctx, tx, customerID, lines)
	})
	if err != nil {
		return res, fmt.Errorf("place order: %w", err)
	}
	return res, nil
}

// keyUsed reports whether a committed request holds key: its answer will be replayed.
func (s *Store) keyUsed(ctx context.Context, customerID uuid.UUID, key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	var used bool
	err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM orders.idempotency_keys WHERE scope = $1 AND key = $2)", scope(customerID), key).Scan(&used)
	if err != nil {
		return false, fmt.Errorf("look up idempotency key: %w", err)
	}
	return used, nil
}

func insert(ctx context.Context, tx pgx.Tx, customerID uuid.UUID, lines []Line) (Order, idempotency.Outcome, error) {
	sum, err := total(lines)
	if err != nil {
		return Order{}, 0, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Order{}, 0, fmt.Errorf("new id: %w", err)
	}
	o, err := scan(tx.QueryRow(ctx, `INSERT INTO orders.orders (id, customer_id, total_amount, currency) VALUES ($1, $2, $3, $4)
		RETURNING `+columns, id, customerID, sum.Amount, sum.Currency))
	if err != nil {
		return Order{}, 0, err
	}
	products := make([]uuid.UUID, len(lines))
	quantities := make([]int32, len(lines))
	amounts := make([]int64, len(lines))
	for i, l := range lines {
		products[i], quantities[i], amounts[i] = l.ProductID, int32(l.Quantity), l.UnitPrice.Amount
	}
	if _, err := tx.Exec(ctx, `INSERT INTO orders.order_lines (order_id, line_no, product_id, quantity, unit_amount, currency)
		SELECT $1, t.n, t.p, t.q, t.a, $2 FROM unnest($3::uuid[], $4::int[], $5::bigint[]) WITH ORDINALITY AS t(p, q, a, n)`,
		id, sum.Currency, products, quantities, amounts); err != nil {
		return Order{}, 0, err
	}
	o.Lines = lines
	placed := events.OrderPlacedV1{OrderID: o.ID, CustomerID: customerID, Total: o.Total, Lines: make([]events.Line, len(lines))}
	for i, l := range lines {
		placed.Lines[i] = events.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
	}
	env, err := events.New(events.OrderPlaced, o.ID.String(), placed, telemetry.ToMap(ctx))
	if err != nil {
		return Order{}, 0, err
	}
	if err := outbox.Add(ctx, tx, env); err != nil {
		return Order{}, 0, err
	}
	return o, idempotency.Created, nil
}

// Get returns an order with its lines.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Order, error) {
	o, err := scan(s.db.QueryRow(ctx, "SELECT "+columns+" FROM orders.orders WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("get order: %w", err)
	}
	all := []Order{o}
	if err := s.addLines(ctx, all); err != nil {
		return Order{}, fmt.Errorf("get order: %w", err)
	}
	return all[0], nil
}

// List returns orders with their lines in id (creation) order, one page at a time.
func (s *Store) List(ctx context.Context, f Filter, pr page.Request) (page.Page[Order], error) {
	rows, err := s.db.Query(ctx, "SELECT "+columns+` FROM orders.orders
		WHERE ($1::uuid IS NULL OR id > $1)
		  AND ($2::uuid IS NULL OR customer_id = $2)
		  AND ($3::text IS NULL OR status = $3)
		ORDER BY id LIMIT $4`, pr.After, f.CustomerID, f.Status, pr.Limit+1)
	if err != nil {
		return page.Page[Order]{}, fmt.Errorf("list orders: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Order, error) { return scan(r) })
	if err != nil {
		return page.Page[Order]{}, fmt.Errorf("list orders: %w", err)
	}
	p := page.Build(items, pr.Limit, func(o Order) uuid.UUID { return o.ID })
	if err := s.addLines(ctx, p.Items); err != nil {
		return page.Page[Order]{}, fmt.Errorf("list orders: %w", err)
	}
	return p, nil
}

// addLines reads the lines of orders in one query.
func (s *Store) addLines(ctx context.Context, orders []Order) error {
	if len(orders) == 0 {
		return nil
	}
	at := make(map[uuid.UUID]int, len(orders))
	ids := make([]uuid.UUID, len(orders))
	for i, o := range orders {
		at[o.ID], ids[i] = i, o.ID
		orders[i].Lines = []Line{}
	}
	rows, err := s.db.Query(ctx, `SELECT order_id, product_id, quantity, unit_amount, currency FROM orders.order_lines
		WHERE order_id = ANY($1) ORDER BY order_id, line_no`, ids)
	if err != nil {
		return err
	}
	var (
		orderID uuid.UUID
		l       Line
	)
	_, err = pgx.ForEachRow(rows, []any{&orderID, &l.ProductID, &l.Quantity, &l.UnitPrice.Amount, &l.UnitPrice.Currency}, func() error {
		t, err := l.UnitPrice.Mul(int64(l.Quantity))
		if err != nil {
			return err
		}
		l.LineTotal = t
		i := at[orderID]
		orders[i].Lines = append(orders[i].Lines, l)
		return nil
	})
	return err
}

// Complete moves a PENDING order to COMPLETED and returns its order.completed event, in the
// caller's transaction. An order already COMPLETED or CANCELLED stays as it is: no event, no
// error. An unknown order is ErrNotFound; one of another customer is events.ErrInvalid.
func Complete(ctx context.Context, tx pgx.Tx, orderID, customerID uuid.UUID) ([]events.Envelope, error) {
	o, changed, err := settle(ctx, tx, orderID, customerID, Completed, nil)
	if err != nil || !changed {
		return nil, err
	}
	env, err := events.New(events.OrderCompleted, o.ID.String(),
		events.OrderCompletedV1{OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total}, telemetry.ToMap(ctx))
	if err != nil {
		return nil, err
	}
	return []events.Envelope{env}, nil
}

// Cancel moves a PENDING order to CANCELLED for reason and returns its order.cancelled event,
// otherwise as Complete.
func Cancel(ctx context.Context, tx pgx.Tx, orderID, customerID uuid.UUID, reason string) ([]events.Envelope, error) {
	o, changed, err := settle(ctx, tx, orderID, customerID, Cancelled, &reason)
	if err != nil || !changed {
		return nil, err
	}
	env, err := events.New(events.OrderCancelled, o.ID.String(),
		events.OrderCancelledV1{OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total, Reason: reason}, telemetry.ToMap(ctx))
	if err != nil {
		return nil, err
	}
	return []events.Envelope{env}, nil
}

// settle is the one transition an order makes: out of PENDING, once.
func settle(ctx context.Context, tx pgx.Tx, orderID, customerID uuid.UUID, to Status, reason *string) (Order, bool, error) {
	o, err := scan(tx.QueryRow(ctx, `UPDATE orders.orders SET status = $3, cancel_reason = $4, version = version + 1, updated_at = now()
		WHERE id = $1 AND customer_id = $2 AND status = 'PENDING' RETURNING `+columns, orderID, customerID, to, reason))
	if err == nil {
		return o, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Order{}, false, fmt.Errorf("settle order: %w", err)
	}
	o, err = scan(tx.QueryRow(ctx, "SELECT "+columns+" FROM orders.orders WHERE id = $1", orderID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Order{}, false, ErrNotFound.Withf("no order %s", orderID)
	case err != nil:
		return Order{}, false, fmt.Errorf("settle order: %w", err)
	case o.CustomerID != customerID:
		return Order{}, false, fmt.Errorf("%w: order %s belongs to another customer", events.ErrInvalid, orderID)
	}
	slog.InfoContext(ctx, "order already settled; event changes nothing",
		"order_id", orderID, "status", o.Status, "wanted", to)
	return o, false, nil
}
