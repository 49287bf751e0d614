// Package rabbitmq turns events on RabbitMQ into function invocations.
//
// It reads the functions and their `topic` annotations from the gateway, declares one durable
// quorum queue per function bound to its topics (with a dead-letter exchange, a dead-letter
// queue and a delivery limit), and consumes each with manual acks and the function's
// concurrency as prefetch. Each message is posted to /function/NAME; it is acked only after a
// 2xx. A 5xx, 429, 408 or a call without an answer is retried in the connector with backoff
// (honouring Retry-After up to a cap) up to MaxAttempts, then the message is dead-lettered;
// any other status (400, 401, 404, ...) dead-letters it at once. Nothing is ever auto-acked.
// Each delivery is a consumer span ("process <topic>") continuing the trace context in the
// message's headers, and each attempt a client span ("invoke <function>") whose context the
// function receives in traceparent.
// The connection is kept by broker.Supervisor: its own reconnect loop with fresh channels.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/logs"
)

// FunctionSource lists the functions that subscribe to topics.
type FunctionSource interface {
	List(ctx context.Context) ([]Function, error)
}

// Connector consumes every function's queue and invokes the function.
type Connector struct {
	cfg     Config
	source  FunctionSource
	invoker *Invoker
	log     *slog.Logger
	metrics *Metrics
	sup     *broker.Supervisor

	refresh chan struct{} // asks for the function list now
	changed chan struct{} // the function list changed

	mu        sync.Mutex
	functions []Function
	listed    bool // functions holds a successful listing
	running   atomic.Int64

	// sleep waits between attempts; tests replace it to see the waits asked for.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a connector. metrics may be nil.
func New(cfg Config, source FunctionSource, invoker *Invoker, log *slog.Logger, metrics *Metrics) *Connector {
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Connector{
		cfg: cfg, source: source, invoker: invoker, log: log, metrics: metrics,
		sup:     &broker.Supervisor{URL: cfg.AMQPURL, Name: "faas-commerce rabbitmq-connector", Log: log},
		refresh: make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		sleep:   broker.Sleep,
	}
}

// Connected reports whether the connector holds a RabbitMQ connection.
func (c *Connector) Connected() bool { return c.sup.Connected() }

// functionsRunning is how many functions have a running consumer.
func (c *Connector) functionsRunning() int { return int(c.running.Load()) }

// Refresh asks for the function list to be read now (after a deploy).
func (c *Connector) Refresh() {
	select {
	case c.refresh <- struct{}{}:
	default:
	}
}

// Run consumes until ctx ends, then lets in-flight invocations finish (up to DrainTimeout)
// and returns nil.
func (c *Connector) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.discover(ctx) })
	defer wg.Wait()
	return c.sup.Run(ctx, c.session)
}

// discover reads the function list every RefreshInterval and on Refresh. A failed read keeps
// the last list: a gateway outage must not stop consumers.
func (c *Connector) discover(ctx context.Context) {
	tick := time.NewTicker(c.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		fns, err := c.source.List(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.WarnContext(ctx, "cannot list functions; keeping the last list", "error", err)
		} else {
			c.mu.Lock()
			same := c.listed && slices.EqualFunc(fns, c.functions, Function.equal)
			c.functions, c.listed = fns, true
			c.mu.Unlock()
			if !same {
				select {
				case c.changed <- struct{}{}:
				default:
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.refresh:
		}
	}
}

func (c *Connector) snapshot() ([]Function, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.functions), c.listed
}

// session runs every function's consumer on one connection.
func (c *Connector) session(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := errors.Join(broker.DeclareTopicExchange(ch, c.cfg.Exchange), broker.DeclareDirectExchange(ch, c.cfg.DLX())); err != nil {
		return err
	}
	_ = ch.Close() // declared; a failed close only means the connection is going too
	c.metrics.connected.Set(1)
	defer c.metrics.connected.Set(0)
	c.log.InfoContext(ctx, "connector connected", "broker", broker.Redact(c.cfg.AMQPURL), "exchange", c.cfg.Exchange)

	consumers := map[string]*consumer{}
	ended := make(chan *consumer, 16)
	defer func() {
		c.stopAll(ctx, consumers)
		c.metrics.functions.Set(0)
		c.running.Store(0)
	}()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	failures := 0
	for {
		if fns, ok := c.snapshot(); ok {
			if c.reconcile(ctx, conn, fns, consumers, ended) {
				failures = 0
			} else {
				failures++
				retry.Reset(broker.Backoff(failures, 200*time.Millisecond, 30*time.Second))
			}
			c.metrics.functions.Set(float64(len(consumers)))
			c.running.Store(int64(len(consumers)))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
		case <-retry.C:
		case cs := <-ended:
			if consumers[cs.fn.Path()] == cs {
				delete(consumers, cs.fn.Path())
				if conn.IsClosed() {
					return errors.New("connection closed")
				}
				c.log.WarnContext(ctx, "consumer channel closed; starting it again", "function", cs.fn.Path())
				failures++
				retry.Reset(broker.Backoff(failures, 200*time.Millisecond, 30*time.Second))
			}
		}
	}
}

// reconcile makes the running consumers match fns; it reports whether every function is set up.
func (c *Connector) reconcile(ctx context.Context, conn *amqp.Connection, fns []Function, consumers map[string]*consumer, ended chan<- *consumer) bool {
	ok := true
	want := map[string]Function{}
	for _, f := range fns {
		want[f.Path()] = f
	}
	for path, cs := range consumers {
		f, still := want[path]
		if !still || f.Concurrency != cs.fn.Concurrency {
			c.log.InfoContext(ctx, "stopping consumer", "function", path, "removed", !still)
			cs.stop(c.cfg.DrainTimeout)
			delete(consumers, path)
		}
	}
	for path, f := range want {
		cs := consumers[path]
		if cs != nil && slices.Equal(cs.fn.Topics, f.Topics) {
			continue
		}
		var old []string
		if cs != nil {
			old = cs.fn.Topics
		}
		if err := c.declare(conn, f, old); err != nil {
			c.log.ErrorContext(ctx, "cannot declare the function's queue; will try again", "function", path, "error", err)
			ok = false
			continue
		}
		if cs != nil {
			cs.fn.Topics = f.Topics
			continue
		}
		cs, err := c.startConsumer(ctx, conn, f, ended)
		if err != nil {
			c.log.ErrorContext(ctx, "cannot start consumer; will try again", "function", path, "error", err)
			ok = false
			continue
		}
		consumers[path] = cs
		c.log.InfoContext(ctx, "consuming", "function", path, "queue", c.cfg.Queue(f), "topics", f.Topics, "concurrency", f.Concurrency)
	}
	return ok
}

// declare declares the function's queue and dead-letter queue and binds its topics, dropping
// the bindings of topics in old it no longer has. It uses a channel of its own: a declaration
// error closes the channel it happens on.
func (c *Connector) declare(conn *amqp.Connection, f Function, old []string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close() //nolint:errcheck // a short-lived channel; errors surfaced below
	q := c.cfg.Queue(f)
	if _, err := broker.DeclareQueue(ch, broker.QueueSpec{Name: c.cfg.DLQ(f)}); err != nil {
		return err
	}
	if err := broker.Bind(ch, c.cfg.DLQ(f), c.cfg.DLX(), q); err != nil {
		return err
	}
	if _, err := broker.DeclareQueue(ch, c.queueSpec(f)); err != nil {
		return err
	}
	if err := broker.Bind(ch, q, c.cfg.Exchange, f.Topics...); err != nil {
		return err
	}
	var gone []string
	for _, t := range old {
		if !slices.Contains(f.Topics, t) {
			gone = append(gone, t)
		}
	}
	return broker.Unbind(ch, q, c.cfg.Exchange, gone...)
}

func (c *Connector) queueSpec(f Function) broker.QueueSpec {
	q := c.cfg.Queue(f)
	return broker.QueueSpec{Name: q, DeadLetterExchange: c.cfg.DLX(), DeadLetterRoutingKey: q, DeliveryLimit: c.cfg.DeliveryLimit}
}

func (c *Connector) stopAll(ctx context.Context, consumers map[string]*consumer) {
	var wg sync.WaitGroup
	for _, cs := range consumers {
		wg.Go(func() { cs.stop(c.cfg.DrainTimeout) })
	}
	wg.Wait()
	c.log.InfoContext(ctx, "consumers stopped", "count", len(consumers))
}

// consumer is one function's channel and its workers.
type consumer struct {
	fn       Function
	ch       *amqp.Channel
	tag      string
	stopping chan struct{} // closed to stop: no new attempts, waiting messages go back
	halt     context.CancelFunc
	done     chan struct{} // closed when every worker has returned
	once     sync.Once
}

func (c *Connector) startConsumer(ctx context.Context, conn *amqp.Connection, f Function, ended chan<- *consumer) (*consumer, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(f.Concurrency, 0, false); err != nil {
		return nil, fmt.Errorf("prefetch: %w", err)
	}
	tag := "connector-" + f.Path() + "-" + uuid.NewString()[:8]
	deliveries, err := ch.Consume(c.cfg.Queue(f), tag, false, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", c.cfg.Queue(f), err)
	}
	// Invocations outlive a stop request (they get DrainTimeout), so their context is not ctx.
	work, halt := context.WithCancel(context.WithoutCancel(ctx))
	cs := &consumer{fn: f, ch: ch, tag: tag, stopping: make(chan struct{}), halt: halt, done: make(chan struct{})}
	var wg sync.WaitGroup
	for range f.Concurrency {
		wg.Go(func() {
			for {
				select {
				case <-cs.stopping:
					return
				case d, ok := <-deliveries:
					if !ok {
						return
					}
					c.handle(work, cs, d)
				}
			}
		})
	}
	go func() {
		wg.Wait()
		halt()
		_ = ch.Close() // unacked messages go back to the queue; the channel may be gone already
		close(cs.done)
		select {
		case ended <- cs:
		case <-ctx.Done():
		}
	}()
	return cs, nil
}

// stop cancels the subscription, lets in-flight invocations finish within drain and closes
// the channel (messages not yet acked return to the queue).
func (cs *consumer) stop(drain time.Duration) {
	cs.once.Do(func() {
		// Cancel before the workers may return: once they have, the channel is closed, and
		// two calls at once on one channel would take each other's replies.
		_ = cs.ch.Cancel(cs.tag, false) // fails only when the channel is gone, which stops it too
		close(cs.stopping)
	})
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case <-cs.done:
	case <-t.C:
		cs.halt()
		<-cs.done
	}
}

// handle invokes the function for one delivery until it is acked or dead-lettered.
func (c *Connector) handle(ctx context.Context, cs *consumer, d amqp.Delivery) {
	fn := cs.fn.Path()
	// The consumer span: a child of the publish span whose context the message carries; every
	// attempt's invocation is its child, and the function's own span theirs.
	ctx, span := broker.StartProcess(ctx, d, c.cfg.Queue(cs.fn), Topic(d))
	span.SetAttributes(semconv.FaaSInvokedName(fn))
	outcome := "requeued"
	defer func() {
		span.SetAttributes(attribute.String("faas_commerce.delivery.outcome", outcome))
		if outcome != "acked" {
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}()
	ctx = logs.WithAttrs(ctx, slog.String("function", fn), slog.String("message_id", d.MessageId), slog.String("topic", Topic(d)))
	c.metrics.deliveries.WithLabelValues(fn).Inc()
	for attempt := 1; ; attempt++ {
		callID := uuid.NewString()
		r := c.invoker.Invoke(ctx, cs.fn, d, callID, attempt)
		c.metrics.observe(fn, r)
		switch r.verdict() {
		case ack:
			if err := d.Ack(false); err != nil {
				c.log.WarnContext(ctx, "ack failed; the message will be delivered again", "error", err)
				outcome = "ack_failed"
				return
			}
			c.metrics.acks.WithLabelValues(fn).Inc()
			outcome = "acked"
			return
		case deadLetter:
			if r.Status == http.StatusNotFound {
				c.Refresh() // the function may have been removed since the last listing
			}
			c.deadLetter(ctx, fn, d, "client_error", r, attempt, callID)
			outcome = "dead_lettered"
			return
		}
		if attempt >= c.cfg.MaxAttempts {
			c.deadLetter(ctx, fn, d, "attempts_exhausted", r, attempt, callID)
			outcome = "dead_lettered"
			return
		}
		wait := broker.Backoff(attempt, c.cfg.RetryBase, c.cfg.RetryCap)
		if ra := min(r.RetryAfter, c.cfg.RetryAfterCap); ra > wait {
			wait = ra
		}
		c.metrics.retries.WithLabelValues(fn).Inc()
		c.log.InfoContext(ctx, "invocation failed; retrying", "status", r.Status, "error", r.Err,
			"attempt", attempt, "call_id", callID, "retry_in", wait.String())
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(ctx, cancel)
		go func() {
			select {
			case <-cs.stopping:
				cancel()
			case <-wctx.Done():
			}
		}()
		err := c.sleep(wctx, wait)
		stop()
		cancel()
		if err != nil {
			// Stopping: hand the message back for the next consumer.
			if nerr := d.Nack(false, true); nerr != nil {
				c.log.WarnContext(ctx, "requeue failed; the message will be delivered again", "error", nerr)
			}
			c.metrics.requeues.WithLabelValues(fn).Inc()
			return
		}
	}
}

func (c *Connector) deadLetter(ctx context.Context, fn string, d amqp.Delivery, reason string, r Result, attempt int, callID string) {
	// Reject without requeue: the queue dead-letters it (at least once) to the function's DLQ.
	if err := d.Nack(false, false); err != nil {
		c.log.WarnContext(ctx, "dead-lettering failed; the message will be delivered again", "error", err)
		return
	}
	c.metrics.deadLetters.WithLabelValues(fn, reason).Inc()
	c.log.WarnContext(ctx, "message dead-lettered", "reason", reason, "status", r.Status, "error", r.Err, "attempts", attempt, "call_id", callID)
}
