package notifications

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Record stores n; it returns false, storing nothing, when the event already has a
// notification on n's channel.
func Record(ctx context.Context, q Querier, n Notification) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO notifications.notifications
		(id, event_id, event_type, order_id, customer_id, channel, recipient, subject, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id, channel) DO NOTHING`,
		n.ID, n.EventID, n.EventType, n.OrderID, n.CustomerID, n.Channel, n.Recipient, n.Subject, n.Body)
	if err != nil {
		return false, fmt.Errorf("record notification: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ForOrder returns an order's notifications, oldest first.
func ForOrder(ctx context.Context, q Querier, orderID uuid.UUID) ([]Notification, error) {
	rows, err := q.Query(ctx, `SELECT id, event_id, event_type, order_id, customer_id, channel, recipient, subject, body, sent_at
		FROM notifications.notifications WHERE order_id = $1 ORDER BY sent_at, id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := r.Scan(&n.ID, &n.EventID, &n.EventType, &n.OrderID, &n.CustomerID, &n.Channel, &n.Recipient, &n.Subject, &n.Body, &n.SentAt)
		n.SentAt = n.SentAt.UTC()
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}
