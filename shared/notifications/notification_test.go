package notifications

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

func TestCompose(t *testing.T) {
	order, customer := uuid.New(), uuid.New()
	total := money.Money{Amount: 123456, Currency: "EUR"}
	yen := money.Money{Amount: 5000, Currency: "JPY"}
	cases := []struct {
		name, typ string
		payload   any
		subject   string
		body      string
	}{
		{"placed", events.OrderPlaced, events.OrderPlacedV1{OrderID: order, CustomerID: customer, Total: total,
			Lines: []events.Line{{ProductID: uuid.New(), Quantity: 1, UnitPrice: total}}},
			"We received your order", "We received your order " + order.String() + ". Total: 1234.56 EUR."},
		{"completed", events.OrderCompleted, events.OrderCompletedV1{OrderID: order, CustomerID: customer, Total: yen},
			"Your order is complete", "Your order " + order.String() + " is complete. Total charged: 5000 JPY."},
		{"cancelled for stock", events.OrderCancelled, events.OrderCancelledV1{OrderID: order, CustomerID: customer, Total: total, Reason: "stock_rejected"},
			"Your order was cancelled", "Your order " + order.String() + " was cancelled: some items are out of stock. Total: 1234.56 EUR."},
		{"cancelled for payment", events.OrderCancelled, events.OrderCancelledV1{OrderID: order, CustomerID: customer, Total: total, Reason: "payment_failed"},
			"Your order was cancelled", "was cancelled: the payment did not go through."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := events.New(c.typ, order.String(), c.payload, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Compose(env)
			if err != nil || m.Subject != c.subject || !strings.Contains(m.Body, c.body) || m.OrderID != order || m.CustomerID != customer {
				t.Fatalf("Compose: %+v, %v", m, err)
			}
		})
	}
	other, _ := events.New(events.StockReserved, order.String(), events.StockReservedV1{}, nil)
	if _, err := Compose(other); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("another event type: %v", err)
	}
}

func TestMailMessage(t *testing.T) {
	m, err := NewSMTPMailer(MailConfig{Addr: "127.0.0.1:1", From: "orders@shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	id := m.MessageID(Key(uuid.MustParse("0193a8f4-0000-7000-8000-000000000001"), Email))
	if id != "<0193a8f4-0000-7000-8000-000000000001.email@shop.example>" {
		t.Fatalf("Message-ID %s", id)
	}
	b := string(m.compose(Mail{To: "ada@example.com", Subject: "Bestellung für Ada", Body: "line 1\nline 2", MessageID: id}))
	for _, want := range []string{"From: orders@shop.example\r\n", "To: ada@example.com\r\n", "Message-ID: " + id + "\r\n",
		"Subject: =?utf-8?q?Bestellung_f=C3=BCr_Ada?=\r\n", "\r\n\r\nline 1\r\nline 2\r\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("message lacks %q:\n%s", want, b)
		}
	}
}

func TestClientsClassifyFailures(t *testing.T) {
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") != "k" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	c, err := NewSMSClient(SMSConfig{URL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status      int
		unavailable bool
		ok          bool
	}{
		{http.StatusAccepted, false, true},
		{http.StatusServiceUnavailable, true, false},
		{http.StatusTooManyRequests, true, false},
		{http.StatusUnprocessableEntity, false, false},
	} {
		status = tc.status
		err := c.Send(context.Background(), Text{To: "+4930123456", Body: "x", IdempotencyKey: "k"})
		if (err == nil) != tc.ok || (fault.KindOf(err) == fault.Unavailable) != tc.unavailable {
			t.Errorf("answer %d: error %v", tc.status, err)
		}
	}
	smtp, err := NewSMTPMailer(MailConfig{Addr: srv.Listener.Addr().String(), From: "a@b.example"})
	if err != nil {
		t.Fatal(err)
	}
	guard := resilience.NewGuard(MailDependency, resilience.Settings{Timeout: 50 * time.Millisecond, MaxAttempts: 3,
		BreakerFailures: 2, BreakerDelay: time.Hour, BreakerSuccesses: 1}, resilience.NewMetrics(prometheus.NewRegistry()))
	mailer := GuardMail(smtp, guard)
	// An HTTP server never greets: the mailer gives up within its timeout, as with a hung server;
	// after two such failures the breaker is open and the next send fails without connecting.
	for i := range 2 {
		if err := mailer.Send(context.Background(), Mail{To: "x@y.example", Subject: "s", Body: "b"}); !errors.Is(err, ErrMailUnavailable) {
			t.Fatalf("no SMTP greeting (%d): %v", i, err)
		}
	}
	if err := mailer.Send(context.Background(), Mail{To: "x@y.example", Subject: "s", Body: "b"}); !errors.Is(err, ErrMailUnavailable) || !resilience.IsOpen(err) {
		t.Fatalf("breaker open: %v", err)
	}
}
