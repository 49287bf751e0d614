package function

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/orders"
	"github.com/faas-commerce/faas-commerce/shared/orders/ordertest"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func succeeded(t *testing.T, o orders.Order) events.Envelope {
	t.Helper()
	return ordertest.Event(t, events.PaymentSucceeded, o.ID, events.PaymentSucceededV1{
		OrderID: o.ID, CustomerID: o.CustomerID, Amount: o.Total, ProviderRef: "ch_" + uuid.NewString()[:8],
	})
}

func TestCompletesOnce(t *testing.T) {
	db := pgtest.New(t)
	o := ordertest.PlaceOne(t, db.Pool)
	env := succeeded(t, o)
	if res := fntest.Deliver(t, newApp(db.Pool), env); res.Duplicate || len(res.Emitted) != 1 || res.Emitted[0] != events.OrderCompleted {
		t.Fatalf("result %+v", res)
	}
	got := ordertest.Get(t, db.Pool, o.ID)
	if got.Status != orders.Completed || got.Version != 2 || got.CancelReason != "" {
		t.Fatalf("order %+v", got)
	}
	out := ordertest.Outbox(t, db.Pool, events.OrderCompleted, o.ID)
	var p events.OrderCompletedV1
	if len(out) != 1 || out[0].Decode(&p) != nil || p != (events.OrderCompletedV1{OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total}) {
		t.Fatalf("order.completed %+v", out)
	}
	if res := fntest.Deliver(t, newApp(db.Pool), env); !res.Duplicate {
		t.Fatalf("redelivery %+v", res)
	}
	// A second, distinct success event for the order changes nothing either.
	if res := fntest.Deliver(t, newApp(db.Pool), succeeded(t, o)); res.Duplicate || len(res.Emitted) != 0 {
		t.Fatalf("second event %+v", res)
	}
	if got := ordertest.Get(t, db.Pool, o.ID); got.Version != 2 || len(ordertest.Outbox(t, db.Pool, events.OrderCompleted, o.ID)) != 1 {
		t.Fatalf("completed twice: %+v", got)
	}
}

func TestNeverCompletesACancelledOrder(t *testing.T) {
	db := pgtest.New(t)
	o := ordertest.PlaceOne(t, db.Pool)
	err := pg.InTx(context.Background(), db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		_, err := orders.Cancel(context.Background(), tx, o.ID, o.CustomerID, orders.ReasonStockRejected)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := fntest.Deliver(t, newApp(db.Pool), succeeded(t, o)); len(res.Emitted) != 0 {
		t.Fatalf("result %+v", res)
	}
	if got := ordertest.Get(t, db.Pool, o.ID); got.Status != orders.Cancelled || got.CancelReason != orders.ReasonStockRejected {
		t.Fatalf("order %+v", got)
	}
}

func TestRefusesEventsItCannotApply(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	o := ordertest.PlaceOne(t, db.Pool)

	unknown := o
	unknown.ID = uuid.New()
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", succeeded(t, unknown)).ExpectError(t, http.StatusNotFound, "order_not_found")
	stranger := o
	stranger.CustomerID = uuid.New()
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", succeeded(t, stranger)).ExpectError(t, http.StatusBadRequest, "invalid_event")
	noRef := succeeded(t, o)
	noRef.Payload = []byte(`{"order_id":"` + o.ID.String() + `","customer_id":"` + o.CustomerID.String() + `","amount":{"amount":200,"currency":"EUR"},"provider_ref":""}`)
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", noRef).ExpectError(t, http.StatusBadRequest, "invalid_event")
	extra := succeeded(t, o)
	extra.Payload = []byte(`{"order_id":"` + o.ID.String() + `","customer_id":"` + o.CustomerID.String() + `","amount":{"amount":200,"currency":"EUR"},"provider_ref":"x","card":"4242"}`)
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", extra).ExpectError(t, http.StatusBadRequest, "invalid_event")
	wrongType := succeeded(t, o)
	wrongType.Type = events.PaymentFailed
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", wrongType).ExpectError(t, http.StatusBadRequest, "unexpected_event_type")
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", fntest.Raw(`{`)).ExpectError(t, http.StatusBadRequest, "invalid_event")

	if got := ordertest.Get(t, db.Pool, o.ID); got.Status != orders.Pending || got.Version != 1 {
		t.Fatalf("refused events changed the order: %+v", got)
	}
	var inboxRows int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM messaging.inbox").Scan(&inboxRows); err != nil {
		t.Fatal(err)
	}
	if inboxRows != 0 || len(ordertest.Outbox(t, db.Pool, events.OrderCompleted, o.ID)) != 0 {
		t.Fatalf("refused events left %d inbox rows", inboxRows)
	}
}
