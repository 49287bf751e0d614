// Package amqpqueue keeps one durable RabbitMQ queue: it publishes persistent messages with
// publisher confirms and consumes with manual acks, and reconnects by itself (its own loop on
// NotifyClose with a fresh connection and channels).
package amqpqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Errors of Publish.
var (
	ErrNotConnected = errors.New("not connected to rabbitmq")
	ErrNacked       = errors.New("rabbitmq did not confirm the message")
	ErrUnroutable   = errors.New("rabbitmq could not route the message to the queue")
)

// Config names the broker, exchange and queue.
type Config struct {
	// URL is the AMQP URL, e.g. amqp://guest:guest@127.0.0.1:5672/.
	URL string
	// Exchange is a durable direct exchange; messages are routed to Queue by its name.
	Exchange string
	// Queue is a durable quorum queue.
	Queue string
	// Prefetch bounds unacknowledged deliveries, and so concurrent handlers.
	Prefetch int
	// Consume, when false, makes Run keep the connection for publishing only.
	Consume bool
}

// Handler processes one delivery and must Ack, Nack or Reject it; ctx ends at shutdown.
type Handler func(ctx context.Context, d amqp.Delivery)

// Queue publishes to and consumes from one queue.
type Queue struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // serialises publishes so a return is matched to its publish
	ch      *amqp.Channel
	returns chan amqp.Return
	up      chan struct{} // closed while connected
}

// New returns a Queue; nothing connects until Run.
func New(cfg Config, log *slog.Logger) *Queue {
	return &Queue{cfg: cfg, log: log, up: make(chan struct{})}
}

// Connected returns a channel that is closed once the queue is connected (again).
func (q *Queue) Connected() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.up
}

// Run connects, declares the exchange and queue, consumes into handle and reconnects with
// back-off after any failure, until ctx ends.
func (q *Queue) Run(ctx context.Context, handle Handler) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		connectedAt := time.Now()
		err := q.session(ctx, handle)
		if ctx.Err() != nil {
			return
		}
		if time.Since(connectedAt) > 10*time.Second {
			backoff = 200 * time.Millisecond
		}
		q.log.Warn("rabbitmq session ended, reconnecting", "error", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (q *Queue) session(ctx context.Context, handle Handler) error {
	conn, err := amqp.DialConfig(q.cfg.URL, amqp.Config{
		Properties: amqp.Table{"connection_name": "faas-provider " + q.cfg.Queue},
		Heartbeat:  10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	pub, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open publish channel: %w", err)
	}
	if err := pub.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	pubClosed := pub.NotifyClose(make(chan *amqp.Error, 1))
	returns := pub.NotifyReturn(make(chan amqp.Return, 1))
	if err := pub.ExchangeDeclare(q.cfg.Exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", q.cfg.Exchange, err)
	}
	if _, err := pub.QueueDeclare(q.cfg.Queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return fmt.Errorf("declare queue %s: %w", q.cfg.Queue, err)
	}
	if err := pub.QueueBind(q.cfg.Queue, q.cfg.Queue, q.cfg.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s: %w", q.cfg.Queue, err)
	}

	var deliveries <-chan amqp.Delivery
	var consClosed chan *amqp.Error
	if q.cfg.Consume {
		cons, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open consume channel: %w", err)
		}
		consClosed = cons.NotifyClose(make(chan *amqp.Error, 1))
		if err := cons.Qos(q.cfg.Prefetch, 0, false); err != nil {
			return fmt.Errorf("qos: %w", err)
		}
		if deliveries, err = cons.Consume(q.cfg.Queue, "", false, false, false, false, nil); err != nil {
			return fmt.Errorf("consume %s: %w", q.cfg.Queue, err)
		}
	}

	q.mu.Lock()
	q.ch, q.returns = pub, returns
	close(q.up)
	q.mu.Unlock()
	q.log.Info("rabbitmq connected", "exchange", q.cfg.Exchange, "queue", q.cfg.Queue, "consume", q.cfg.Consume)
	defer func() {
		q.mu.Lock()
		q.ch, q.returns = nil, nil
		q.up = make(chan struct{})
		q.mu.Unlock()
	}()

	var wg sync.WaitGroup
	defer wg.Wait() // handlers finish (or give up on ctx) before the connection closes
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-closed:
			return fmt.Errorf("connection closed: %w", err)
		case err := <-pubClosed:
			return fmt.Errorf("publish channel closed: %w", err)
		case err := <-consClosed:
			return fmt.Errorf("consume channel closed: %w", err)
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("delivery channel closed")
			}
			wg.Go(func() { handle(ctx, d) })
		}
	}
}

// Publish sends msg persistently to the queue and waits for RabbitMQ's confirm.
func (q *Queue) Publish(ctx context.Context, msg amqp.Publishing) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ch == nil {
		return ErrNotConnected
	}
	for len(q.returns) > 0 {
		<-q.returns // a stale return of an earlier, already failed publish
	}
	msg.DeliveryMode = amqp.Persistent
	dc, err := q.ch.PublishWithDeferredConfirmWithContext(ctx, q.cfg.Exchange, q.cfg.Queue, true, false, msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for confirm: %w", err)
	}
	if !ok {
		return ErrNacked
	}
	// a mandatory message that could not be routed is returned before its ack
	select {
	case <-q.returns:
		return ErrUnroutable
	default:
		return nil
	}
}

// Delete removes the queue and exchange (tests clean up with it).
func Delete(url, exchange, queue string) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		return fmt.Errorf("delete queue: %w", err)
	}
	if err := ch.ExchangeDelete(exchange, false, false); err != nil {
		return fmt.Errorf("delete exchange: %w", err)
	}
	return nil
}
