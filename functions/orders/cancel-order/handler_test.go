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

func rejected(t *testing.T, o orders.Order) events.Envelope {
	t.Helper()
	return ordertest.Event(t, events.StockRejected, o.ID, events.StockRejectedV1{
		OrderID: o.ID, CustomerID: o.CustomerID, Short: []events.Shortage{{ProductID: o.Lines[0].ProductID, Requested: 2, Available: 1}},
	})
}

func failed(t *testing.T, o orders.Order) events.Envelope {
	t.Helper()
	return ordertest.Event(t, events.PaymentFailed, o.ID, events.PaymentFailedV1{
		OrderID: o.ID, CustomerID: o.CustomerID, Amount: o.Total, Reason: "card_declined",
	})
}

func TestCancels(t *testing.T) {
	for _, c := range []struct {
		event  func(*testing.T, orders.Order) events.Envelope
		reason string
	}{{rejected, orders.ReasonStockRejected}, {failed, orders.ReasonPaymentFailed}} {
		t.Run(c.reason, func(t *testing.T) {
			db := pgtest.New(t)
			o := ordertest.PlaceOne(t, db.Pool)
			env := c.event(t, o)
			if res := fntest.Deliver(t, newApp(db.Pool), env); res.Duplicate || len(res.Emitted) != 1 || res.Emitted[0] != events.OrderCancelled {
				t.Fatalf("result %+v", res)
			}
			if got := ordertest.Get(t, db.Pool, o.ID); got.Status != orders.Cancelled || got.CancelReason != c.reason || got.Version != 2 {
				t.Fatalf("order %+v", got)
			}
			out := ordertest.Outbox(t, db.Pool, events.OrderCancelled, o.ID)
			var p events.OrderCancelledV1
			if len(out) != 1 || out[0].Decode(&p) != nil ||
				p != (events.OrderCancelledV1{OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total, Reason: c.reason}) {
				t.Fatalf("order.cancelled %+v", out)
			}
			if res := fntest.Deliver(t, newApp(db.Pool), env); !res.Duplicate {
				t.Fatalf("redelivery %+v", res)
			}
			// The other cancel path afterwards keeps the first reason and emits nothing.
			if res := fntest.Deliver(t, newApp(db.Pool), rejected(t, o)); len(res.Emitted) != 0 {
				t.Fatalf("second cancel %+v", res)
			}
			if res := fntest.Deliver(t, newApp(db.Pool), failed(t, o)); len(res.Emitted) != 0 {
				t.Fatalf("second cancel %+v", res)
			}
			if got := ordertest.Get(t, db.Pool, o.ID); got.CancelReason != c.reason || got.Version != 2 || len(ordertest.Outbox(t, db.Pool, events.OrderCancelled, o.ID)) != 1 {
				t.Fatalf("cancelled twice: %+v", got)
			}
		})
	}
}

func TestNeverCancelsACompletedOrder(t *testing.T) {
	db := pgtest.New(t)
	o := ordertest.PlaceOne(t, db.Pool)
	err := pg.InTx(context.Background(), db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		_, err := orders.Complete(context.Background(), tx, o.ID, o.CustomerID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := fntest.Deliver(t, newApp(db.Pool), failed(t, o)); len(res.Emitted) != 0 {
		t.Fatalf("result %+v", res)
	}
	if got := ordertest.Get(t, db.Pool, o.ID); got.Status != orders.Completed || got.CancelReason != "" {
		t.Fatalf("order %+v", got)
	}
	if n := len(ordertest.Outbox(t, db.Pool, events.OrderCancelled, o.ID)); n != 0 {
		t.Fatalf("%d order.cancelled for a completed order", n)
	}
}

func TestRefusesEventsItCannotApply(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	o := ordertest.PlaceOne(t, db.Pool)
	unknown := o
	unknown.ID = uuid.New()
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", failed(t, unknown)).ExpectError(t, http.StatusNotFound, "order_not_found")
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", rejected(t, unknown)).ExpectError(t, http.StatusNotFound, "order_not_found")
	noShort := rejected(t, o)
	noShort.Payload = []byte(`{"order_id":"` + o.ID.String() + `","customer_id":"` + o.CustomerID.String() + `","short":[]}`)
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", noShort).ExpectError(t, http.StatusBadRequest, "invalid_event")
	badAmount := failed(t, o)
	badAmount.Payload = []byte(`{"order_id":"` + o.ID.String() + `","customer_id":"` + o.CustomerID.String() + `","amount":{"amount":"1","currency":"EUR"},"reason":"x"}`)
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", badAmount).ExpectError(t, http.StatusBadRequest, "invalid_event")
	wrongType := failed(t, o)
	wrongType.Type = events.PaymentSucceeded
	fntest.CallAs(t, fntest.Service, app, http.MethodPost, "/", wrongType).ExpectError(t, http.StatusBadRequest, "unexpected_event_type")

	if got := ordertest.Get(t, db.Pool, o.ID); got.Status != orders.Pending || got.Version != 1 {
		t.Fatalf("refused events changed the order: %+v", got)
	}
	if n := ordertest.OutboxCount(t, db.Pool); n != 1 { // the order.placed of place
		t.Fatalf("refused events emitted: %d events", n)
	}
}
