package notifications

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/customers"
)

// Customer reads how to reach a customer (e-mail, phone, chosen channels) from the customers
// context's table, within tx: the notifying transaction already holds a connection, and a
// second one from the pool per event would starve it once as many events arrive at once as
// the pool has connections. This is a read across contexts, kept to these columns; an unknown
// customer is customers.ErrNotFound.
func Customer(ctx context.Context, tx pgx.Tx, id uuid.UUID) (customers.Customer, error) {
	var (
		c     customers.Customer
		phone *string
	)
	err := tx.QueryRow(ctx, "SELECT id, email, phone, notify_email, notify_sms FROM customers.customers WHERE id = $1", id).
		Scan(&c.ID, &c.Email, &phone, &c.Notify.Email, &c.Notify.SMS)
	if errors.Is(err, pgx.ErrNoRows) {
		return customers.Customer{}, customers.ErrNotFound
	}
	if err != nil {
		return customers.Customer{}, fmt.Errorf("read customer to notify: %w", err)
	}
	if phone != nil {
		c.Phone = *phone
	}
	return c, nil
}
