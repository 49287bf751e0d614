// Package events defines the platform's events: the envelope every event travels in and the
// payload of each type. Routing key = event type, on one topic exchange. The JSON form is a
// contract with every consumer; events_test.go pins it.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/money"
)

// Exchange is the topic exchange all events are published to.
const Exchange = "faas-commerce.events"

// The event types: each is also the routing key.
const (
	OrderPlaced      = "order.placed"
	StockReserved    = "stock.reserved"
	StockRejected    = "stock.rejected"
	PaymentSucceeded = "payment.succeeded"
	PaymentFailed    = "payment.failed"
	OrderCompleted   = "order.completed"
	OrderCancelled   = "order.cancelled"
)

// Version of the payload shapes below; a breaking change adds a new version.
const Version = 1

// Envelope is what travels on the wire.
type Envelope struct {
	// ID is unique per event; consumers record it to handle each event once.
	ID uuid.UUID `json:"id"`
	// Type is the event type and the routing key.
	Type string `json:"type"`
	// Version of the payload shape.
	Version int `json:"version"`
	// OccurredAt is when the change that caused the event committed, in UTC.
	OccurredAt time.Time `json:"occurred_at"`
	// CorrelationID ties the events of one order together: the order id.
	CorrelationID string `json:"correlation_id"`
	// TraceContext carries W3C trace context (traceparent, tracestate, baggage), so one order
	// is one trace across every hop.
	TraceContext map[string]string `json:"trace_context,omitempty"`
	// Payload is the type's payload.
	Payload json.RawMessage `json:"payload"`
}

// New makes an envelope for payload with a fresh time-ordered id.
func New(eventType, correlationID string, payload any, trace map[string]string) (Envelope, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, fmt.Errorf("event id: %w", err)
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s payload: %w", eventType, err)
	}
	return Envelope{
		ID: id, Type: eventType, Version: Version, OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
		CorrelationID: correlationID, TraceContext: trace, Payload: b,
	}, nil
}

var typePattern = regexp.MustCompile(`^[a-z]+(\.[a-z_]+)+$`)

// ErrInvalid wraps every reason an envelope or payload is refused.
var ErrInvalid = errors.New("invalid event")

// Parse reads and checks an envelope: every field present and well formed. It does not look
// at the payload.
func Parse(b []byte) (Envelope, error) {
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Envelope{}, fmt.Errorf("%w: data after the envelope", ErrInvalid)
	}
	switch {
	case e.ID == uuid.Nil:
		return Envelope{}, fmt.Errorf("%w: no id", ErrInvalid)
	case !typePattern.MatchString(e.Type):
		return Envelope{}, fmt.Errorf("%w: bad type %q", ErrInvalid, e.Type)
	case e.Version < 1:
		return Envelope{}, fmt.Errorf("%w: bad version %d", ErrInvalid, e.Version)
	case e.OccurredAt.IsZero():
		return Envelope{}, fmt.Errorf("%w: no occurred_at", ErrInvalid)
	case e.CorrelationID == "":
		return Envelope{}, fmt.Errorf("%w: no correlation_id", ErrInvalid)
	case len(e.Payload) == 0 || bytes.Equal(e.Payload, []byte("null")):
		return Envelope{}, fmt.Errorf("%w: no payload", ErrInvalid)
	}
	return e, nil
}

// Validator is a payload that can check itself.
type Validator interface{ Validate() error }

// Decode reads the payload strictly into v (unknown fields refused) and validates it.
func (e Envelope) Decode(v Validator) error {
	dec := json.NewDecoder(bytes.NewReader(e.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrInvalid, e.Type, err)
	}
	if err := v.Validate(); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrInvalid, e.Type, err)
	}
	return nil
}

// Line is one order line with the price the order was placed at.
type Line struct {
	ProductID uuid.UUID   `json:"product_id"`
	Quantity  int         `json:"quantity"`
	UnitPrice money.Money `json:"unit_price"`
}

// Shortage is a line that could not be reserved.
type Shortage struct {
	ProductID uuid.UUID `json:"product_id"`
	Requested int       `json:"requested"`
	Available int64     `json:"available"`
}

// OrderPlacedV1 is order.placed: an order was accepted and waits for stock and payment.
type OrderPlacedV1 struct {
	OrderID    uuid.UUID   `json:"order_id"`
	CustomerID uuid.UUID   `json:"customer_id"`
	Lines      []Line      `json:"lines"`
	Total      money.Money `json:"total"`
}

// StockReservedV1 is stock.reserved: every line of the order is held.
type StockReservedV1 struct {
	OrderID    uuid.UUID   `json:"order_id"`
	CustomerID uuid.UUID   `json:"customer_id"`
	Lines      []Line      `json:"lines"`
	Total      money.Money `json:"total"`
}

// StockRejectedV1 is stock.rejected: some lines were short, nothing was held.
type StockRejectedV1 struct {
	OrderID    uuid.UUID  `json:"order_id"`
	CustomerID uuid.UUID  `json:"customer_id"`
	Short      []Shortage `json:"short"`
}

// PaymentSucceededV1 is payment.succeeded.
type PaymentSucceededV1 struct {
	OrderID     uuid.UUID   `json:"order_id"`
	CustomerID  uuid.UUID   `json:"customer_id"`
	Amount      money.Money `json:"amount"`
	ProviderRef string      `json:"provider_ref"`
}

// PaymentFailedV1 is payment.failed: the provider declined or the charge could not be made.
type PaymentFailedV1 struct {
	OrderID    uuid.UUID   `json:"order_id"`
	CustomerID uuid.UUID   `json:"customer_id"`
	Amount     money.Money `json:"amount"`
	Reason     string      `json:"reason"`
}

// OrderCompletedV1 is order.completed.
type OrderCompletedV1 struct {
	OrderID    uuid.UUID   `json:"order_id"`
	CustomerID uuid.UUID   `json:"customer_id"`
	Total      money.Money `json:"total"`
}

// OrderCancelledV1 is order.cancelled; Reason is stock_rejected or payment_failed.
type OrderCancelledV1 struct {
	OrderID    uuid.UUID   `json:"order_id"`
	CustomerID uuid.UUID   `json:"customer_id"`
	Total      money.Money `json:"total"`
	Reason     string      `json:"reason"`
}

func checkIDs(order, customer uuid.UUID) error {
	if order == uuid.Nil || customer == uuid.Nil {
		return errors.New("order_id and customer_id are required")
	}
	return nil
}

func checkLines(lines []Line) error {
	if len(lines) == 0 {
		return errors.New("no lines")
	}
	for _, l := range lines {
		if l.ProductID == uuid.Nil || l.Quantity < 1 || l.UnitPrice.Amount < 0 || !money.ValidCurrency(l.UnitPrice.Currency) {
			return fmt.Errorf("bad line %+v", l)
		}
	}
	return nil
}

func checkMoney(m money.Money) error {
	if m.Amount < 0 || !money.ValidCurrency(m.Currency) {
		return fmt.Errorf("bad amount %+v", m)
	}
	return nil
}

// Validate checks the payload.
func (p OrderPlacedV1) Validate() error {
	return errors.Join(checkIDs(p.OrderID, p.CustomerID), checkLines(p.Lines), checkMoney(p.Total))
}

// Validate checks the payload.
func (p StockReservedV1) Validate() error {
	return errors.Join(checkIDs(p.OrderID, p.CustomerID), checkLines(p.Lines), checkMoney(p.Total))
}

// Validate checks the payload.
func (p StockRejectedV1) Validate() error {
	if len(p.Short) == 0 {
		return errors.Join(checkIDs(p.OrderID, p.CustomerID), errors.New("no short lines"))
	}
	return checkIDs(p.OrderID, p.CustomerID)
}

// Validate checks the payload.
func (p PaymentSucceededV1) Validate() error {
	if p.ProviderRef == "" {
		return errors.Join(checkIDs(p.OrderID, p.CustomerID), errors.New("no provider_ref"))
	}
	return errors.Join(checkIDs(p.OrderID, p.CustomerID), checkMoney(p.Amount))
}

// Validate checks the payload.
func (p PaymentFailedV1) Validate() error {
	return errors.Join(checkIDs(p.OrderID, p.CustomerID), checkMoney(p.Amount))
}

// Validate checks the payload.
func (p OrderCompletedV1) Validate() error {
	return errors.Join(checkIDs(p.OrderID, p.CustomerID), checkMoney(p.Total))
}

// Validate checks the payload.
func (p OrderCancelledV1) Validate() error {
	if p.Reason == "" {
		return errors.Join(checkIDs(p.OrderID, p.CustomerID), errors.New("no reason"))
	}
	return errors.Join(checkIDs(p.OrderID, p.CustomerID), checkMoney(p.Total))
}
