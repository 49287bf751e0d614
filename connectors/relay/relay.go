// Package relay publishes the transactional outbox (messaging.outbox) to RabbitMQ.
//
// Each batch runs in one PostgreSQL transaction: it claims the oldest unpublished rows with
// FOR UPDATE SKIP LOCKED (so any number of relays can run side by side and none publishes a
// row another holds), publishes them in seq order with publisher confirms and the mandatory
// flag, many confirms in flight at once, then marks the confirmed rows published and records
// attempts and last_error on the others, and commits. A crash anywhere before the commit
// leaves the rows unpublished, so they are published again (at least once; consumers dedupe
// by event id in their inbox). Rows of a rolled-back transaction never exist, so never publish.
//
// A row the broker returns (no queue bound for its type) or nacks is a failure: it is retried
// after a backoff that grows with its attempts, while later rows go on, and after MaxAttempts
// it is parked (left unpublished with its last_error, counted in a metric) until an operator
// resets its attempts. A lost connection is not held against any row.
//
// Each publish is a producer span ("publish <event type>", messaging conventions) whose parent
// is the trace context stored in the event's envelope, and the span's context goes out in the
// message's traceparent header, so the order's trace continues through RabbitMQ.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/outbox"
)

// Settings tune a relay.
type Settings struct {
	// Exchange receives every event, with the event type as routing key.
	Exchange string
	// BatchSize is the most rows claimed (and confirms in flight) per transaction.
	BatchSize int
	// PollInterval is how often the outbox is read when no NOTIFY arrives (the fallback for
	// a missed notification or a lost LISTEN connection).
	PollInterval time.Duration
	// MaxAttempts is how many failed publishes park a row.
	MaxAttempts int
	// RetryBase and RetryCap bound the backoff before a failed row is tried again.
	RetryBase, RetryCap time.Duration
}

func (s *Settings) defaults() {
	if s.BatchSize <= 0 {
		s.BatchSize = 256
	}
	if s.PollInterval <= 0 {
		s.PollInterval = time.Second
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 10
	}
	if s.RetryBase <= 0 {
		s.RetryBase = time.Second
	}
	if s.RetryCap < s.RetryBase {
		s.RetryCap = max(5*time.Minute, s.RetryBase)
	}
}

// Relay moves outbox rows to RabbitMQ.
type Relay struct {
	pool    *pgxpool.Pool
	amqpURL string
	set     Settings
	log     *slog.Logger
	metrics *Metrics
	sup     *broker.Supervisor

	wake chan struct{}

	mu       sync.Mutex
	notUntil map[int64]time.Time // failed rows waiting for their backoff, by seq

	// afterPublish, when set (tests), runs after a batch's confirms and before it is marked.
	afterPublish func(ctx context.Context)
}

// New returns a relay reading pool's outbox and publishing to amqpURL. metrics may be nil.
func New(pool *pgxpool.Pool, amqpURL string, set Settings, log *slog.Logger, metrics *Metrics) *Relay {
	set.defaults()
	if metrics == nil {
		metrics = NewMetrics(nil, pool, set.MaxAttempts)
	}
	return &Relay{
		pool: pool, amqpURL: amqpURL, set: set, log: log, metrics: metrics,
		sup:      &broker.Supervisor{URL: amqpURL, Name: "faas-commerce relay", Log: log},
		wake:     make(chan struct{}, 1),
		notUntil: map[int64]time.Time{},
	}
}

// Connected reports whether the relay holds a RabbitMQ connection.
func (r *Relay) Connected() bool { return r.sup.Connected() }

// Run relays until ctx ends; it returns nil then. RabbitMQ and PostgreSQL outages are waited
// out: it reconnects to both on its own.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(ctx) })
	defer wg.Wait()
	return r.sup.Run(ctx, r.session)
}

func (r *Relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// listen holds a connection with LISTEN on the outbox channel and pokes the relay on each
// notification, reconnecting with backoff when the connection is lost.
func (r *Relay) listen(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		err := r.listenOnce(ctx, &failures)
		if ctx.Err() != nil {
			return
		}
		failures++
		wait := broker.Backoff(failures, 100*time.Millisecond, 10*time.Second)
		r.log.WarnContext(ctx, "outbox LISTEN connection lost; polling until it is back", "error", err, "retry_in", wait.String())
		if broker.Sleep(ctx, wait) != nil {
			return
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context, failures *int) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	// The connection is left in LISTEN state: close it rather than return it to the pool.
	defer func() {
		_ = conn.Conn().Close(context.WithoutCancel(ctx)) // nothing to do on a failed close
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{outbox.Channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	*failures = 0
	r.poke() // catch up on anything committed while not listening
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		r.poke()
	}
}

// session relays on one RabbitMQ connection until it fails.
func (r *Relay) session(ctx context.Context, conn *amqp.Connection) error {
	pub, err := broker.NewPublisher(conn, r.set.BatchSize)
	if err != nil {
		return err
	}
	defer pub.Close() //nolint:errcheck // the connection closes right after
	if err := broker.DeclareTopicExchange(pub.Channel(), r.set.Exchange); err != nil {
		return err
	}
	r.log.InfoContext(ctx, "relay connected", "broker", broker.Redact(r.amqpURL), "exchange", r.set.Exchange)
	dbFailures := 0
	poll := time.NewTicker(r.set.PollInterval)
	defer poll.Stop()
	for {
		n, err := r.batch(ctx, pub)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errBroker):
			return err
		case err != nil:
			dbFailures++
			wait := broker.Backoff(dbFailures, 50*time.Millisecond, 5*time.Second)
			r.log.WarnContext(ctx, "outbox batch failed", "error", err, "retry_in", wait.String())
			if broker.Sleep(ctx, wait) != nil {
				return nil
			}
			continue
		}
		dbFailures = 0
		if n == r.set.BatchSize {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-poll.C:
		}
	}
}

// errBroker marks a failure of the RabbitMQ connection, as opposed to PostgreSQL's.
var errBroker = errors.New("broker")

type row struct {
	seq      int64
	eventID  string
	envelope []byte
	attempts int
}

// batch relays one batch and returns how many rows it claimed.
func (r *Relay) batch(ctx context.Context, pub *broker.Publisher) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	// Rolled back unless committed below; after a commit this is a no-op.
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // see above

	rows, err := tx.Query(ctx, `
		SELECT seq, event_id::text, envelope::text, attempts
		FROM messaging.outbox
		WHERE published_at IS NULL AND attempts < $1 AND NOT (seq = ANY($2))
		ORDER BY seq
		LIMIT $3
		FOR UPDATE SKIP LOCKED`, r.set.MaxAttempts, r.waiting(), r.set.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("claim rows: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
		var x row
		var env string
		err := rw.Scan(&x.seq, &x.eventID, &env, &x.attempts)
		x.envelope = []byte(env)
		return x, err
	})
	if err != nil {
		return 0, fmt.Errorf("claim rows: %w", err)
	}
	if len(claimed) == 0 {
		return 0, nil
	}

	msgs := make([]broker.Message, 0, len(claimed))
	sent := make([]row, 0, len(claimed))
	var published []int64
	type failure struct {
		row row
		err error
	}
	var failed []failure
	for _, x := range claimed {
		m, err := broker.EnvelopeMessage(r.set.Exchange, x.envelope)
		if err != nil {
			failed = append(failed, failure{x, err})
			continue
		}
		msgs = append(msgs, m)
		sent = append(sent, x)
	}
	// One producer span per message, each the child of its event's stored trace context; its
	// own context replaces that one in the AMQP headers.
	spans := make([]trace.Span, len(msgs))
	for i := range msgs {
		spans[i] = broker.StartPublish(ctx, &msgs[i])
	}
	results := pub.Publish(ctx, msgs...)
	for i, err := range results {
		broker.EndPublish(spans[i], err)
	}
	var brokerErr error
	for i, err := range results {
		switch {
		case err == nil:
			published = append(published, sent[i].seq)
		case errors.Is(err, broker.ErrReturned), errors.Is(err, broker.ErrNacked):
			failed = append(failed, failure{sent[i], err})
		default:
			// The connection went away or ctx ended: the broker gave no verdict, so the row is
			// not to blame; it stays unpublished as it was.
			brokerErr = err
		}
	}
	if r.afterPublish != nil {
		r.afterPublish(ctx)
	}

	if len(published) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE messaging.outbox SET published_at = now() WHERE seq = ANY($1)`, published); err != nil {
			return 0, fmt.Errorf("mark published: %w", err)
		}
	}
	for _, f := range failed {
		if _, err := tx.Exec(ctx, `UPDATE messaging.outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1`, f.row.seq, f.err.Error()); err != nil {
			return 0, fmt.Errorf("record failure: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}

	r.metrics.published.Add(float64(len(published)))
	r.forget(published)
	for _, f := range failed {
		attempts := f.row.attempts + 1
		r.metrics.failed.Inc()
		if attempts >= r.set.MaxAttempts {
			r.metrics.parked.Inc()
			r.log.ErrorContext(ctx, "outbox row parked after its last attempt; reset attempts to retry it",
				"seq", f.row.seq, "event_id", f.row.eventID, "attempts", attempts, "error", f.err)
			r.forget([]int64{f.row.seq})
			continue
		}
		wait := broker.Backoff(attempts, r.set.RetryBase, r.set.RetryCap)
		r.log.WarnContext(ctx, "outbox row not published; will retry", "seq", f.row.seq, "event_id", f.row.eventID,
			"attempts", attempts, "error", f.err, "retry_in", wait.String())
		r.mu.Lock()
		r.notUntil[f.row.seq] = time.Now().Add(wait)
		r.mu.Unlock()
	}
	if brokerErr != nil {
		return len(claimed), fmt.Errorf("%w: %w", errBroker, brokerErr)
	}
	return len(claimed), nil
}

// waiting lists the failed rows still in their backoff; expired entries are dropped.
func (r *Relay) waiting() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	out := make([]int64, 0, len(r.notUntil))
	for seq, until := range r.notUntil {
		if now.Before(until) {
			out = append(out, seq)
		} else {
			delete(r.notUntil, seq)
		}
	}
	return out
}

func (r *Relay) forget(seqs []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range seqs {
		delete(r.notUntil, s)
	}
}
