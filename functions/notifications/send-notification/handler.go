// Package function is send-notification: the consumer of order.placed, order.completed and
// order.cancelled. It tells the customer by e-mail and SMS, as they chose, and records one
// notification per event and channel in the transaction that records the event as handled.
package function

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
	"github.com/faas-commerce/faas-commerce/shared/notifications"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

// Consumer is the name send-notification records handled events under in messaging.inbox.
const Consumer = "send-notification"

// settings are the function's own: where mail and SMS go, and the guards around both (a
// timeout per attempt and a circuit breaker each; the SMS call, which carries an idempotency
// key, is also retried with backoff and jitter; SMTP is not retried, see GuardMail).
type settings struct {
	Mail      notifications.MailConfig
	SMS       notifications.SMSConfig
	MailGuard resilience.Settings `env:", prefix=SMTP_"`
	SMSGuard  resilience.Settings `env:", prefix=SMS_"`
}

var app = deps.Setup(func(ctx context.Context, d *deps.Deps) (*fn.App, error) {
	n, err := NewNotifier(ctx, d.Source)
	if err != nil {
		return nil, err
	}
	return NewApp(d.DB, n), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

// NewNotifier builds the guarded mail and SMS clients from SMTP_* and SMS_* settings. Customers are
// read from the customers context's table in the same database (a read across contexts; see
// the README).
func NewNotifier(ctx context.Context, src config.Source) (notifications.Notifier, error) {
	var s settings
	if err := src.Load(ctx, &s, nil); err != nil {
		return notifications.Notifier{}, err
	}
	for prefix, g := range map[string]resilience.Settings{"SMTP_": s.MailGuard, "SMS_": s.SMSGuard} {
		if g.Timeout <= 0 {
			return notifications.Notifier{}, fmt.Errorf("%sTIMEOUT: must be positive", prefix)
		}
	}
	mailer, err := notifications.NewSMTPMailer(s.Mail)
	if err != nil {
		return notifications.Notifier{}, err
	}
	m := resilience.ProcessMetrics()
	smsClient := resilience.HTTPClient(notifications.SMSDependency, s.SMSGuard, nil, m)
	sms, err := notifications.NewSMSClient(s.SMS, smsClient)
	if err != nil {
		return notifications.Notifier{}, err
	}
	guard := resilience.NewGuard(notifications.MailDependency, s.MailGuard, m)
	return notifications.Notifier{Mail: notifications.GuardMail(mailer, guard), SMS: sms}, nil
}

// NewApp builds the function on db and n. Exported for the tests in ./simtest, which run it
// against the SMTP catcher and SMS simulator in infra (a module of their own, so the image
// build, which sees only this folder, shared/ and migrations/, never needs infra).
func NewApp(db pg.Beginner, n notifications.Notifier) *fn.App {
	return inbox.Route(fn.New("send-notification"), db, Consumer,
		[]string{events.OrderPlaced, events.OrderCompleted, events.OrderCancelled},
		func(ctx context.Context, tx pgx.Tx, env events.Envelope) ([]events.Envelope, error) {
			return n.Notify(ctx, tx, env)
		})
}
