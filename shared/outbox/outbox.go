// Package outbox writes events in the transaction that makes the change they announce. The
// relay (connectors/relay) publishes committed rows to RabbitMQ with publisher confirms; rows of
// a rolled-back transaction never exist, so they never publish.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/events"
)

// Channel is the LISTEN/NOTIFY channel a commit that wrote events notifies.
const Channel = "messaging_outbox"

// Add writes envs to the outbox within tx.
func Add(ctx context.Context, tx pgx.Tx, envs ...events.Envelope) error {
	for _, e := range envs {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode %s event: %w", e.Type, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO messaging.outbox (event_id, event_type, correlation_id, envelope) VALUES ($1, $2, $3, $4)`,
			e.ID, e.Type, e.CorrelationID, b); err != nil {
			return fmt.Errorf("add %s event to outbox: %w", e.Type, err)
		}
	}
	return nil
}
