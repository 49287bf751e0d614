// Package inbox makes event consumers idempotent: a consumer records each event id in the same
// transaction as the event's effect and its outgoing events, so a redelivered or republished
// event changes nothing. Route wires that into a queue-triggered function.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/outbox"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Claim records that consumer handled event id; it returns false when it already had.
func Claim(ctx context.Context, tx pgx.Tx, consumer string, id uuid.UUID) (bool, error) {
	tag, err := tx.Exec(ctx, "INSERT INTO messaging.inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", consumer, id)
	if err != nil {
		return false, fmt.Errorf("claim event %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Apply is a consumer's effect for one event: it runs inside tx and returns the events to
// publish because of it (written to the outbox in the same transaction). An error wrapping
// events.ErrInvalid, or a fault of a client kind, means the event can never be handled: the
// function answers 4xx and the connector dead-letters it. Any other error answers 5xx and the
// connector retries.
type Apply func(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error)

// Result is the JSON a consumer answers with.
type Result struct {
	EventID   uuid.UUID `json:"event_id"`
	Duplicate bool      `json:"duplicate"`
	Emitted   []string  `json:"emitted"`
}

var (
	errEnvelope  = fault.New(fault.Malformed, "invalid_event", "the body is not a valid event envelope")
	errEventType = fault.New(fault.Malformed, "unexpected_event_type", "this function does not consume events of this type")
)

// Handle runs apply for env once per consumer: claim, effect and outgoing events commit
// together. A duplicate is reported, not an error.
func Handle(ctx context.Context, db pg.Beginner, consumer string, env events.Envelope, apply Apply) (Result, error) {
	res := Result{EventID: env.ID, Emitted: []string{}}
	err := pg.InTx(ctx, db, pg.TxOptions{}, func(tx pgx.Tx) error {
		res.Duplicate, res.Emitted = false, res.Emitted[:0]
		first, err := Claim(ctx, tx, consumer, env.ID)
		if err != nil {
			return err
		}
		if !first {
			res.Duplicate = true
			return nil
		}
		out, err := apply(ctx, tx, env)
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, out...); err != nil {
			return err
		}
		for _, e := range out {
			res.Emitted = append(res.Emitted, e.Type)
		}
		return nil
	})
	return res, err
}

// Route registers POST / on app for events of the given types, as the RabbitMQ connector
// delivers them: the envelope is the body. Only the platform's services may deliver events
// (401 without a token, 403 for anyone else). Answers 200 with a Result, also for a duplicate.
func Route(app *fn.App, db pg.Beginner, consumer string, types []string, apply Apply) *fn.App {
	return app.Route("POST /{$}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := auth.Require(r.Context(), auth.RoleService); err != nil {
			return err
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return fault.New(fault.TooLarge, "body_too_large", "event is too large")
			}
			return err
		}
		env, err := events.Parse(body)
		if err != nil {
			return errEnvelope.Wrap(err).Withf("the body is not a valid event envelope: %v", err)
		}
		if !slices.Contains(types, env.Type) {
			return errEventType.Withf("%s does not consume %q events", consumer, env.Type)
		}
		ctx := r.Context()
		if !telemetry.HasTrace(ctx) {
			ctx = telemetry.FromMap(ctx, env.TraceContext)
		}
		res, err := Handle(ctx, db, consumer, env, apply)
		if errors.Is(err, events.ErrInvalid) {
			return errEnvelope.Wrap(err).Withf("%v", err)
		}
		if err != nil {
			return err
		}
		slog.InfoContext(ctx, "event handled", "event_id", env.ID, "event_type", env.Type,
			"correlation_id", env.CorrelationID, "duplicate", res.Duplicate, "emitted", res.Emitted)
		fn.JSON(w, http.StatusOK, res)
		return nil
	})
}
