package events

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/money"
)

var (
	orderID    = uuid.MustParse("01936c1e-0000-7000-8000-000000000001")
	customerID = uuid.MustParse("01936c1e-0000-7000-8000-000000000002")
	productID  = uuid.MustParse("01936c1e-0000-7000-8000-000000000003")
	eur        = money.Money{Amount: 2500, Currency: "EUR"}
	lines      = []Line{{ProductID: productID, Quantity: 2, UnitPrice: money.Money{Amount: 1250, Currency: "EUR"}}}
)

// TestWireFormat pins the JSON of the envelope and of every payload: consumers depend on it,
// so a change here must be a new version, not an edit.
func TestWireFormat(t *testing.T) {
	linesJSON := `[{"product_id":"01936c1e-0000-7000-8000-000000000003","quantity":2,"unit_price":{"amount":1250,"currency":"EUR"}}]`
	ids := `"order_id":"01936c1e-0000-7000-8000-000000000001","customer_id":"01936c1e-0000-7000-8000-000000000002"`
	cases := []struct {
		payload any
		want    string
	}{
		{OrderPlacedV1{orderID, customerID, lines, eur}, `{` + ids + `,"lines":` + linesJSON + `,"total":{"amount":2500,"currency":"EUR"}}`},
		{StockReservedV1{orderID, customerID, lines, eur}, `{` + ids + `,"lines":` + linesJSON + `,"total":{"amount":2500,"currency":"EUR"}}`},
		{StockRejectedV1{orderID, customerID, []Shortage{{productID, 2, 1}}}, `{` + ids + `,"short":[{"product_id":"01936c1e-0000-7000-8000-000000000003","requested":2,"available":1}]}`},
		{PaymentSucceededV1{orderID, customerID, eur, "pay_123"}, `{` + ids + `,"amount":{"amount":2500,"currency":"EUR"},"provider_ref":"pay_123"}`},
		{PaymentFailedV1{orderID, customerID, eur, "declined"}, `{` + ids + `,"amount":{"amount":2500,"currency":"EUR"},"reason":"declined"}`},
		{OrderCompletedV1{orderID, customerID, eur}, `{` + ids + `,"total":{"amount":2500,"currency":"EUR"}}`},
		{OrderCancelledV1{orderID, customerID, eur, "payment_failed"}, `{` + ids + `,"total":{"amount":2500,"currency":"EUR"},"reason":"payment_failed"}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.payload)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%T\n got %s\nwant %s", c.payload, b, c.want)
		}
		if err := c.payload.(Validator).Validate(); err != nil {
			t.Errorf("%T: a valid payload fails validation: %v", c.payload, err)
		}
	}

	env := Envelope{
		ID: uuid.MustParse("01936c1e-0000-7000-8000-0000000000aa"), Type: OrderCompleted, Version: 1,
		OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC), CorrelationID: orderID.String(),
		TraceContext: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		Payload:      json.RawMessage(`{"x":1}`),
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"01936c1e-0000-7000-8000-0000000000aa","type":"order.completed","version":1,"occurred_at":"2026-01-02T03:04:05.6Z","correlation_id":"01936c1e-0000-7000-8000-000000000001","trace_context":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"payload":{"x":1}}`
	if string(b) != want {
		t.Errorf("envelope\n got %s\nwant %s", b, want)
	}
}

func TestParseAndDecode(t *testing.T) {
	env, err := New(OrderPlaced, orderID.String(), OrderPlacedV1{orderID, customerID, lines, eur}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var p OrderPlacedV1
	if err := got.Decode(&p); err != nil || p.OrderID != orderID || p.Lines[0].Quantity != 2 {
		t.Fatalf("decoded %+v, %v", p, err)
	}

	bad := []string{
		``, `{}`, `[]`, `not json`,
		`{"id":"01936c1e-0000-7000-8000-0000000000aa","type":"Order Placed","version":1,"occurred_at":"2026-01-02T03:04:05Z","correlation_id":"x","payload":{}}`,
		`{"id":"01936c1e-0000-7000-8000-0000000000aa","type":"order.placed","version":0,"occurred_at":"2026-01-02T03:04:05Z","correlation_id":"x","payload":{}}`,
		`{"id":"01936c1e-0000-7000-8000-0000000000aa","type":"order.placed","version":1,"occurred_at":"2026-01-02T03:04:05Z","correlation_id":"","payload":{}}`,
		`{"id":"01936c1e-0000-7000-8000-0000000000aa","type":"order.placed","version":1,"occurred_at":"2026-01-02T03:04:05Z","correlation_id":"x"}`,
		`{"id":"01936c1e-0000-7000-8000-0000000000aa","type":"order.placed","version":1,"occurred_at":"2026-01-02T03:04:05Z","correlation_id":"x","payload":{},"extra":1}`,
	}
	for _, s := range bad {
		if _, err := Parse([]byte(s)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %v, want ErrInvalid", s, err)
		}
	}
	wrong := env
	wrong.Payload = json.RawMessage(`{"order_id":"01936c1e-0000-7000-8000-000000000001","customer_id":"01936c1e-0000-7000-8000-000000000002","lines":[],"total":{"amount":1,"currency":"EUR"}}`)
	if err := wrong.Decode(&p); !errors.Is(err, ErrInvalid) {
		t.Errorf("an order without lines decoded: %v", err)
	}
	wrong.Payload = json.RawMessage(`{"order_id":"nope"}`)
	if err := wrong.Decode(&p); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad order id decoded: %v", err)
	}
}
