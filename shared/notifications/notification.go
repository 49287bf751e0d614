// Package notifications is the notifications context: telling customers about their orders by
// e-mail and SMS, as they chose, once per order event and channel.
//
// The send is an outside effect inside the transaction that claims the event: the notification
// row is written first (UNIQUE (event_id, channel)), then the message is sent, then everything
// commits. A redelivery after a crash between the send and the commit sends again with the same
// identity: the SMS provider dedupes on the idempotency key <event id>.sms, and mail carries the
// stable Message-ID <event id>.email@<from domain>, so mail is at-least-once with one Message-ID
// (SMTP has no idempotency) while the database records exactly one notification.
package notifications

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fault"
)

// Channels a notification goes out on.
const (
	Email = "email"
	SMS   = "sms"
)

// Notification is one message sent on one channel because of one event.
type Notification struct {
	ID         uuid.UUID `json:"id"`
	EventID    uuid.UUID `json:"event_id"`
	EventType  string    `json:"event_type"`
	OrderID    uuid.UUID `json:"order_id"`
	CustomerID uuid.UUID `json:"customer_id"`
	Channel    string    `json:"channel"`
	// Recipient is the e-mail address or phone number.
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	SentAt    time.Time `json:"sent_at"`
}

// Message is what to tell the customer about an order event.
type Message struct {
	OrderID    uuid.UUID
	CustomerID uuid.UUID
	Subject    string
	Body       string
}

// Compose reads an order event and words the message for it.
func Compose(env events.Envelope) (Message, error) {
	switch env.Type {
	case events.OrderPlaced:
		var p events.OrderPlacedV1
		if err := env.Decode(&p); err != nil {
			return Message{}, err
		}
		return Message{OrderID: p.OrderID, CustomerID: p.CustomerID, Subject: "We received your order",
			Body: fmt.Sprintf("We received your order %s. Total: %s. We will let you know when it is complete.", p.OrderID, p.Total)}, nil
	case events.OrderCompleted:
		var p events.OrderCompletedV1
		if err := env.Decode(&p); err != nil {
			return Message{}, err
		}
		return Message{OrderID: p.OrderID, CustomerID: p.CustomerID, Subject: "Your order is complete",
			Body: fmt.Sprintf("Your order %s is complete. Total charged: %s.", p.OrderID, p.Total)}, nil
	case events.OrderCancelled:
		var p events.OrderCancelledV1
		if err := env.Decode(&p); err != nil {
			return Message{}, err
		}
		return Message{OrderID: p.OrderID, CustomerID: p.CustomerID, Subject: "Your order was cancelled",
			Body: fmt.Sprintf("Your order %s was cancelled: %s. Total: %s.", p.OrderID, reasonText(p.Reason), p.Total)}, nil
	}
	return Message{}, fmt.Errorf("%w: notifications do not handle %q events", events.ErrInvalid, env.Type)
}

func reasonText(reason string) string {
	switch reason {
	case "stock_rejected":
		return "some items are out of stock"
	case "payment_failed":
		return "the payment did not go through"
	}
	return reason
}

// Mail is one e-mail to send.
type Mail struct {
	To      string
	Subject string
	Body    string
	// MessageID is stable for one event and channel, so a resent mail is recognisably the same.
	MessageID string
}

// Text is one SMS to send.
type Text struct {
	To   string
	Body string
	// IdempotencyKey makes the provider accept the message once, however often it is sent.
	IdempotencyKey string
}

// Mailer sends e-mail; a failure that may pass (server down, 4xx, timeout) is of kind
// fault.Unavailable.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
	// MessageID returns the Message-ID for a key.
	MessageID(key string) string
}

// Texter sends SMS; a failure that may pass is of kind fault.Unavailable.
type Texter interface {
	Send(ctx context.Context, t Text) error
}

// Errors sending a notification: the event is retried later.
var (
	ErrMailUnavailable = fault.New(fault.Unavailable, "mail_unavailable", "the mail server is unavailable; retry later")
	ErrSMSUnavailable  = fault.New(fault.Unavailable, "sms_unavailable", "the SMS provider is unavailable; retry later")
)

// Notifier sends the notifications for order events.
type Notifier struct {
	Mail Mailer
	SMS  Texter
}

// Notify is the consumer of order.placed, order.completed and order.cancelled, inside tx (the
// inbox claim's transaction): for each channel the customer chose it records the notification
// and sends it. It emits no events. An unknown customer is customers.ErrNotFound (a client
// fault: the event is dead-lettered).
func (n Notifier) Notify(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
	msg, err := Compose(env)
	if err != nil {
		return nil, err
	}
	c, err := Customer(ctx, tx, msg.CustomerID)
	if err != nil {
		return nil, err
	}
	base := Notification{EventID: env.ID, EventType: env.Type, OrderID: msg.OrderID, CustomerID: c.ID, Subject: msg.Subject, Body: msg.Body}
	if c.Notify.Email && c.Email != "" {
		note := base
		note.Channel, note.Recipient = Email, c.Email
		if err := n.send(ctx, tx, note, func() error {
			return n.Mail.Send(ctx, Mail{To: c.Email, Subject: msg.Subject, Body: msg.Body, MessageID: n.Mail.MessageID(Key(env.ID, Email))})
		}); err != nil {
			return nil, err
		}
	}
	if c.Notify.SMS && c.Phone != "" {
		note := base
		note.Channel, note.Recipient, note.Subject = SMS, c.Phone, ""
		if err := n.send(ctx, tx, note, func() error {
			return n.SMS.Send(ctx, Text{To: c.Phone, Body: msg.Body, IdempotencyKey: Key(env.ID, SMS)})
		}); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// Key is the identity of the notification of one event on one channel: the SMS idempotency key
// and the local part of the mail's Message-ID.
func Key(eventID uuid.UUID, channel string) string { return eventID.String() + "." + channel }

// send records note and then sends it; a notification already recorded is not sent again.
func (n Notifier) send(ctx context.Context, tx pgx.Tx, note Notification, deliver func() error) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("notification id: %w", err)
	}
	note.ID = id
	first, err := Record(ctx, tx, note)
	if err != nil || !first {
		return err
	}
	if err := deliver(); err != nil {
		return fmt.Errorf("send %s notification for event %s: %w", note.Channel, note.EventID, err)
	}
	return nil
}
