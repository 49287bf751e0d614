package simtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	function "github.com/faas-commerce/faas-commerce/functions/notifications/send-notification"
	"github.com/faas-commerce/faas-commerce/infra/mailsim"
	"github.com/faas-commerce/faas-commerce/infra/smssim"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/customers/customerstest"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/notifications"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

type env struct {
	t        *testing.T
	db       *pgtest.DB
	mail     *mailsim.Server
	sms      *smssim.Server
	notifier notifications.Notifier
	app      *fn.App
}

// setup starts the SMTP catcher and the SMS provider simulator on free loopback ports and
// builds the function the way its Setup does.
func setup(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t)
	mail, err := mailsim.Listen(mailsim.Config{SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mail.Close(); err != nil {
			t.Errorf("stop mailsim: %v", err)
		}
	})
	sms := smssim.Handler(smssim.Config{})
	srv := httptest.NewServer(sms)
	t.Cleanup(srv.Close)
	n, err := function.NewNotifier(context.Background(), config.FromMap(map[string]string{
		"SMTP_ADDR": mail.Addr(), "SMS_PROVIDER_URL": srv.URL, "SMTP_FROM": "orders@shop.example",
	}, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, mail: mail, sms: sms, notifier: n, app: function.NewApp(db.Pool, n)}
}

const phone = "+4930123456"

func (e *env) customer(email, sms bool) customers.Customer {
	e.t.Helper()
	return customerstest.Create(e.t, e.db.Pool, 1, func(_ int, c *customers.NewCustomer) {
		c.Phone = phone
		c.Notify = &customers.NotifyChoice{Email: &email, SMS: &sms}
	})[0]
}

var total = money.Money{Amount: 1999, Currency: "EUR"}

func event(t *testing.T, typ string, customer uuid.UUID) (events.Envelope, uuid.UUID) {
	t.Helper()
	order := uuid.New()
	var payload any
	switch typ {
	case events.OrderPlaced:
		payload = events.OrderPlacedV1{OrderID: order, CustomerID: customer, Total: total,
			Lines: []events.Line{{ProductID: uuid.New(), Quantity: 1, UnitPrice: total}}}
	case events.OrderCompleted:
		payload = events.OrderCompletedV1{OrderID: order, CustomerID: customer, Total: total}
	case events.OrderCancelled:
		payload = events.OrderCancelledV1{OrderID: order, CustomerID: customer, Total: total, Reason: "payment_failed"}
	}
	ev, err := events.New(typ, order.String(), payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ev, order
}

func (e *env) deliver(ev events.Envelope) inbox.Result {
	e.t.Helper()
	var res inbox.Result
	fntest.CallAs(e.t, fntest.Service, e.app, http.MethodPost, "/", ev).Expect(e.t, http.StatusOK).Decode(e.t, &res)
	if len(res.Emitted) != 0 {
		e.t.Fatalf("emitted %v", res.Emitted)
	}
	return res
}

func (e *env) recorded(order uuid.UUID) map[string]notifications.Notification {
	e.t.Helper()
	ns, err := notifications.ForOrder(context.Background(), e.db.Pool, order)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]notifications.Notification{}
	for _, n := range ns {
		if _, dup := out[n.Channel]; dup {
			e.t.Fatalf("two %s notifications for order %s", n.Channel, order)
		}
		out[n.Channel] = n
	}
	return out
}

func TestEmailOnly(t *testing.T) {
	e := setup(t)
	c := e.customer(true, false)
	ev, order := event(t, events.OrderPlaced, c.ID)
	e.deliver(ev)

	mails := e.mail.Messages(c.Email)
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	m := mails[0]
	if m.Subject != "We received your order" || !strings.Contains(m.Body, "We received your order "+order.String()) ||
		!strings.Contains(m.Body, "19.99 EUR") || m.From != "orders@shop.example" {
		t.Fatalf("mail %+v", m)
	}
	if want := "<" + ev.ID.String() + ".email@shop.example>"; m.MessageID != want {
		t.Fatalf("Message-ID %q, want %q", m.MessageID, want)
	}
	if got := e.sms.Messages(""); len(got) != 0 {
		t.Fatalf("SMS sent to a customer who chose e-mail only: %+v", got)
	}
	rec := e.recorded(order)
	if len(rec) != 1 || rec[notifications.Email].Recipient != c.Email || rec[notifications.Email].EventID != ev.ID ||
		rec[notifications.Email].Body != m.Body[:len(m.Body)-2] {
		t.Fatalf("recorded %+v", rec)
	}
}

func TestEmailAndSMS(t *testing.T) {
	e := setup(t)
	c := e.customer(true, true)
	for _, tc := range []struct {
		typ, want string
	}{
		{events.OrderCompleted, "is complete. Total charged: 19.99 EUR."},
		{events.OrderCancelled, "was cancelled: the payment did not go through. Total: 19.99 EUR."},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			ev, order := event(t, tc.typ, c.ID)
			e.deliver(ev)
			rec := e.recorded(order)
			if len(rec) != 2 || rec[notifications.SMS].Recipient != phone || rec[notifications.Email].Recipient != c.Email {
				t.Fatalf("recorded %+v", rec)
			}
			texts := e.sms.Messages(phone)
			last := texts[len(texts)-1]
			if !strings.Contains(last.Body, "Your order "+order.String()+" "+tc.want) || last.IdempotencyKey != ev.ID.String()+".sms" {
				t.Fatalf("SMS %+v", last)
			}
			mails := e.mail.Messages(c.Email)
			if !strings.Contains(mails[len(mails)-1].Body, tc.want) {
				t.Fatalf("mail %+v", mails[len(mails)-1])
			}
		})
	}
	if n, m := len(e.sms.Messages(phone)), len(e.mail.Messages(c.Email)); n != 2 || m != 2 {
		t.Fatalf("%d SMS and %d mails for two events", n, m)
	}
}

func TestNoChannelChosen(t *testing.T) {
	e := setup(t)
	c := e.customer(false, false)
	ev, order := event(t, events.OrderPlaced, c.ID)
	e.deliver(ev)
	if len(e.recorded(order)) != 0 || len(e.mail.Messages("")) != 0 || len(e.sms.Messages("")) != 0 {
		t.Fatal("notified a customer who chose no channel")
	}
}

func TestRedeliveryNotifiesOnce(t *testing.T) {
	e := setup(t)
	c := e.customer(true, true)
	ev, order := event(t, events.OrderPlaced, c.ID)
	e.deliver(ev)
	if res := e.deliver(ev); !res.Duplicate {
		t.Fatalf("second delivery %+v", res)
	}
	if n := len(e.recorded(order)); n != 2 {
		t.Fatalf("%d notifications, want one per channel", n)
	}
	if n, m := len(e.sms.Messages("")), len(e.mail.Messages("")); n != 1 || m != 1 {
		t.Fatalf("%d SMS and %d mails after a redelivery, want 1 and 1", n, m)
	}
}

// TestCrashAfterSendBeforeCommit: the messages went out but the transaction did not commit, so
// the event is redelivered. The SMS provider dedupes on the idempotency key; mail goes out again
// with the same Message-ID; the database records one notification per channel.
func TestCrashAfterSendBeforeCommit(t *testing.T) {
	e := setup(t)
	c := e.customer(true, true)
	ev, order := event(t, events.OrderCompleted, c.ID)
	crash := errors.New("process died before commit")
	_, err := inbox.Handle(context.Background(), e.db.Pool, function.Consumer, ev, func(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
		if _, err := e.notifier.Notify(ctx, tx, env); err != nil {
			return nil, err
		}
		return nil, crash
	})
	if !errors.Is(err, crash) {
		t.Fatalf("error %v", err)
	}
	if len(e.recorded(order)) != 0 {
		t.Fatal("a rolled-back delivery left notifications")
	}

	e.deliver(ev)
	if n := len(e.recorded(order)); n != 2 {
		t.Fatalf("%d notifications, want one per channel", n)
	}
	if texts := e.sms.Messages(phone); len(texts) != 1 {
		t.Fatalf("%d SMS accepted by the provider, want 1", len(texts))
	}
	mails := e.mail.Messages(c.Email)
	if len(mails) != 2 || mails[0].MessageID != mails[1].MessageID {
		t.Fatalf("mails %+v: want the resend to carry the first Message-ID", mails)
	}
}

func TestUnavailableChannelsAnswer503(t *testing.T) {
	e := setup(t)

	t.Run("SMTP down", func(t *testing.T) {
		c := e.customer(true, false)
		ev, order := event(t, events.OrderPlaced, c.ID)
		e.mail.Faults().SetDown(true)
		fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusServiceUnavailable, "mail_unavailable")
		e.mail.Faults().SetDown(false)
		e.expectUnhandled(t, ev, order)
		e.deliver(ev)
		if len(e.recorded(order)) != 1 || len(e.mail.Messages(c.Email)) != 1 {
			t.Fatal("redelivery once SMTP is back did not notify once")
		}
	})

	t.Run("SMS provider down", func(t *testing.T) {
		c := e.customer(false, true)
		ev, order := event(t, events.OrderPlaced, c.ID)
		e.sms.Faults().SetDown(true)
		fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusServiceUnavailable, "sms_unavailable")
		e.sms.Faults().SetDown(false)
		e.expectUnhandled(t, ev, order)
	})

	t.Run("SMTP server gone", func(t *testing.T) {
		c := e.customer(true, false)
		ev, order := event(t, events.OrderPlaced, c.ID)
		gone, err := mailsim.Listen(mailsim.Config{SMTPAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		addr := gone.Addr()
		if err := gone.Close(); err != nil {
			t.Fatal(err)
		}
		n, err := function.NewNotifier(context.Background(), config.FromMap(map[string]string{
			"SMTP_ADDR": addr, "SMS_PROVIDER_URL": "http://127.0.0.1:1", "SMTP_TIMEOUT": "2s",
		}, t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		fntest.CallAs(t, fntest.Service, function.NewApp(e.db.Pool, n), http.MethodPost, "/", ev).ExpectError(t, http.StatusServiceUnavailable, "mail_unavailable")
		e.expectUnhandled(t, ev, order)
	})
}

func (e *env) expectUnhandled(t *testing.T, ev events.Envelope, order uuid.UUID) {
	t.Helper()
	if len(e.recorded(order)) != 0 {
		t.Fatal("notification recorded though it was not sent")
	}
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM messaging.inbox WHERE event_id = $1", ev.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("event marked handled (%d, %v)", n, err)
	}
}

func TestRefusesBadEvents(t *testing.T) {
	e := setup(t)
	unknown, _ := event(t, events.OrderPlaced, uuid.New())
	fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", unknown).ExpectError(t, http.StatusNotFound, "customer_not_found")

	c := e.customer(true, true)
	wrongType, _ := event(t, events.OrderPlaced, c.ID)
	wrongType.Type = events.StockReserved
	noReason, order := event(t, events.OrderCancelled, c.ID)
	noReason.Payload = json.RawMessage(`{"order_id":"` + order.String() + `","customer_id":"` + c.ID.String() + `","total":{"amount":1,"currency":"EUR"}}`)
	cases := []struct {
		name string
		body any
		code string
	}{
		{"not JSON", fntest.Raw(`{"id":`), "invalid_event"},
		{"not an envelope", fntest.Raw(`[]`), "invalid_event"},
		{"wrong event type", wrongType, "unexpected_event_type"},
		{"cancelled without a reason", noReason, "invalid_event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", tc.body).ExpectError(t, http.StatusBadRequest, tc.code)
		})
	}
	t.Run("not the platform's service", func(t *testing.T) {
		ev := wrongType
		ev.Type = events.OrderPlaced
		fntest.Call(t, e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
		fntest.CallAs(t, fntest.Customer(uuid.New()), e.app, http.MethodPost, "/", ev).ExpectError(t, http.StatusForbidden, "forbidden")
	})
	if len(e.mail.Messages("")) != 0 || len(e.sms.Messages("")) != 0 {
		t.Fatal("a refused event sent a message")
	}
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM messaging.inbox) + (SELECT count(*) FROM notifications.notifications)").Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused events left %d rows (%v)", n, err)
	}
}

// TestConcurrentEventsDoNotStarveThePool: three times as many events at once as the pool has
// connections all get handled (each event holds one connection, never waits for a second).
func TestConcurrentEventsDoNotStarveThePool(t *testing.T) {
	e := setup(t)
	c := e.customer(true, false)
	n := int(e.db.Pool.Config().MaxConns) * 3
	var wg sync.WaitGroup
	for range n {
		ev, _ := event(t, events.OrderPlaced, c.ID)
		wg.Go(func() {
			if resp := fntest.CallAs(t, fntest.Service, e.app, http.MethodPost, "/", ev); resp.Status != http.StatusOK {
				t.Errorf("status %d: %s", resp.Status, resp.Body)
			}
		})
	}
	wg.Wait()
	if got := len(e.mail.Messages(c.Email)); got != n {
		t.Fatalf("%d mails for %d events", got, n)
	}
}
