package inbox_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func count(t *testing.T, db *pgtest.DB, sql string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func placed(t *testing.T) events.Envelope {
	t.Helper()
	order := uuid.New()
	e, err := events.New(events.OrderPlaced, order.String(), events.OrderPlacedV1{
		OrderID: order, CustomerID: uuid.New(), Total: money.Money{Amount: 100, Currency: "EUR"},
		Lines: []events.Line{{ProductID: uuid.New(), Quantity: 1, UnitPrice: money.Money{Amount: 100, Currency: "EUR"}}},
	}, map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRouteHandlesEachEventOnce delivers one event twice and a malformed one, and checks the
// effect, the outbox and the inbox.
func TestRouteHandlesEachEventOnce(t *testing.T) {
	db := pgtest.New(t)
	if _, err := db.Pool.Exec(context.Background(), "CREATE TABLE effects (order_id uuid)"); err != nil {
		t.Fatal(err)
	}
	var gotTrace string
	app := inbox.Route(fn.New("consumer"), db.Pool, "consumer", []string{events.OrderPlaced},
		func(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
			var p events.OrderPlacedV1
			if err := env.Decode(&p); err != nil {
				return nil, err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO effects VALUES ($1)", p.OrderID); err != nil {
				return nil, err
			}
			out, err := events.New(events.StockReserved, env.CorrelationID, events.StockReservedV1{
				OrderID: p.OrderID, CustomerID: p.CustomerID, Lines: p.Lines, Total: p.Total,
			}, nil)
			gotTrace = env.TraceContext["traceparent"]
			return []events.Envelope{out}, err
		})
	env := placed(t)
	var res inbox.Result
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", env).Expect(t, http.StatusOK).Decode(t, &res)
	if res.Duplicate || len(res.Emitted) != 1 || res.Emitted[0] != events.StockReserved {
		t.Fatalf("first delivery: %+v", res)
	}
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", env).Expect(t, http.StatusOK).Decode(t, &res)
	if !res.Duplicate || len(res.Emitted) != 0 {
		t.Fatalf("second delivery: %+v", res)
	}
	if n := count(t, db, "SELECT count(*) FROM effects"); n != 1 {
		t.Fatalf("%d effects for one event", n)
	}
	if n := count(t, db, "SELECT count(*) FROM messaging.outbox WHERE event_type = 'stock.reserved' AND correlation_id = '"+env.CorrelationID+"'"); n != 1 {
		t.Fatalf("%d outgoing events", n)
	}
	if gotTrace == "" {
		t.Error("trace context did not reach the consumer")
	}

	fntest.Call(t, app, http.MethodPost, "/", placed(t)).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
	customer := auth.Principal{Subject: uuid.NewString(), Roles: []auth.Role{auth.RoleCustomer}}
	fntest.CallAs(t, customer, app, http.MethodPost, "/", placed(t)).ExpectError(t, http.StatusForbidden, "forbidden")

	wrongType := placed(t)
	wrongType.Type = events.OrderCompleted
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", wrongType).ExpectError(t, http.StatusBadRequest, "unexpected_event_type")
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", fntest.Raw(`{"id":"x"}`)).ExpectError(t, http.StatusBadRequest, "invalid_event")
	badPayload := placed(t)
	badPayload.Payload = []byte(`{"order_id":"` + uuid.NewString() + `"}`)
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", badPayload).ExpectError(t, http.StatusBadRequest, "invalid_event")
	if n := count(t, db, "SELECT count(*) FROM messaging.inbox"); n != 1 {
		t.Fatalf("refused events were recorded: %d inbox rows", n)
	}
}

func TestHandleRollsBackEverythingOnFailure(t *testing.T) {
	db := pgtest.New(t)
	env := placed(t)
	boom := errors.New("database went away")
	_, err := inbox.Handle(context.Background(), db.Pool, "consumer", env, func(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if n := count(t, db, "SELECT count(*) FROM messaging.inbox"); n != 0 {
		t.Fatal("a failed event was recorded as handled: its redelivery would be lost")
	}
	res, err := inbox.Handle(context.Background(), db.Pool, "consumer", env, func(context.Context, pgx.Tx, events.Envelope) ([]events.Envelope, error) {
		return nil, nil
	})
	if err != nil || res.Duplicate {
		t.Fatalf("retry after failure: %+v, %v", res, err)
	}
}
