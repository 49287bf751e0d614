package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/broker/brokertest"
	"github.com/faas-commerce/faas-commerce/shared/events"
	"github.com/faas-commerce/faas-commerce/shared/outbox"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

const (
	exchange = "test.events"
	queue    = "all-events"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is one test's database and vhost, with a queue bound to the given keys.
type env struct {
	t  *testing.T
	db *pgtest.DB
	vh *brokertest.VHost

	mu  sync.Mutex
	got []amqp.Delivery
}

func newEnv(t *testing.T, keys ...string) *env {
	t.Helper()
	e := &env{t: t, db: pgtest.New(t), vh: brokertest.New(t)}
	ch := e.vh.Channel(t)
	if err := broker.DeclareTopicExchange(ch, exchange); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.DeclareQueue(ch, broker.QueueSpec{Name: queue}); err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		keys = []string{"#"}
	}
	if err := broker.Bind(ch, queue, exchange, keys...); err != nil {
		t.Fatal(err)
	}
	e.collect()
	return e
}

func (e *env) settings() Settings {
	return Settings{Exchange: exchange, BatchSize: 64, PollInterval: 50 * time.Millisecond, MaxAttempts: 3, RetryBase: time.Millisecond, RetryCap: 5 * time.Millisecond}
}

// start runs r until the test ends (or stop is called) and returns stop, which waits for Run.
func (e *env) start(r *Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("relay: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// add commits n events of type typ in one transaction and returns their ids in order.
func (e *env) add(typ string, n int) []string {
	e.t.Helper()
	var ids []string
	err := pg.InTx(context.Background(), e.db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		ids = ids[:0]
		for range n {
			ev, err := events.New(typ, uuid.NewString(), map[string]int{"n": 1},
				map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "fc=1"})
			if err != nil {
				return err
			}
			if err := outbox.Add(context.Background(), tx, ev); err != nil {
				return err
			}
			ids = append(ids, ev.ID.String())
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// collect consumes the test queue into a list until the test ends, reconnecting when the
// server closes its connection (a message whose ack was lost then shows up twice).
func (e *env) collect() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			e.consumeOnce(ctx)
			_ = broker.Sleep(ctx, 20*time.Millisecond) // ends early only when the test does
		}
	}()
}

func (e *env) consumeOnce(ctx context.Context) {
	conn, err := amqp.Dial(e.vh.URL)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
	if err != nil {
		return
	}
	for d := range deliveries {
		e.mu.Lock()
		e.got = append(e.got, d)
		e.mu.Unlock()
		_ = d.Ack(false) // a lost ack redelivers the message, which tests allow for
	}
}

// barrier publishes a marker behind everything already in the queue and waits until it has
// been consumed; it returns every message consumed before it, markers left out.
func (e *env) barrier() []amqp.Delivery {
	e.t.Helper()
	conn := e.vh.Dial(e.t)
	pub, err := broker.NewPublisher(conn, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	id := "barrier-" + uuid.NewString()
	if err := pub.Publish(context.Background(), broker.Message{Exchange: "", RoutingKey: queue, MessageID: id, Body: []byte("{}")})[0]; err != nil {
		e.t.Fatal(err)
	}
	var out []amqp.Delivery
	waitFor(e.t, "the barrier message", func() bool {
		out = out[:0]
		for _, d := range e.received() {
			if d.MessageId == id {
				return true
			}
			if !strings.HasPrefix(d.MessageId, "barrier-") {
				out = append(out, d)
			}
		}
		return false
	})
	_ = conn.Close() // done with it; the cleanup closes it again harmlessly
	return out
}

// received is every message consumed so far, in arrival order.
func (e *env) received() []amqp.Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]amqp.Delivery(nil), e.got...)
}

func (e *env) unpublished() int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(ds []amqp.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.MessageId
	}
	return out
}

func TestPublishesCommittedRowsInOrderAndMarksThem(t *testing.T) {
	e := newEnv(t)
	var want []string
	for range 5 {
		want = append(want, e.add(events.OrderPlaced, 50)...) // 250 rows, batches of 64
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, e.db.Pool, 3)
	if got := testutil.ToFloat64(m.published); got != 0 {
		t.Fatal(got)
	}
	r := New(e.db.Pool, e.vh.URL, e.settings(), quiet, m)
	e.start(r)
	waitFor(t, "every row marked published", func() bool { return e.unpublished() == 0 })
	got := e.barrier()
	if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Fatalf("published %d messages, want %d in seq order", len(got), len(want))
	}
	d := got[0]
	ev, err := events.Parse(d.Body)
	if err != nil {
		t.Fatalf("body is not an envelope: %v", err)
	}
	if d.Type != events.OrderPlaced || d.RoutingKey != events.OrderPlaced || d.CorrelationId != ev.CorrelationID ||
		d.DeliveryMode != amqp.Persistent || d.Headers["traceparent"] != ev.TraceContext["traceparent"] || d.Headers["tracestate"] != "fc=1" {
		t.Errorf("properties: type %q key %q corr %q mode %d headers %v", d.Type, d.RoutingKey, d.CorrelationId, d.DeliveryMode, d.Headers)
	}
	if got := testutil.ToFloat64(m.published); got != 250 {
		t.Errorf("published counter %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "relay_outbox_lag"); err != nil || n != 1 {
		t.Errorf("lag gauge: %d %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP relay_outbox_lag Outbox rows waiting to be published (parked rows excluded).\n# TYPE relay_outbox_lag gauge\nrelay_outbox_lag 0\n"), "relay_outbox_lag"); err != nil {
		t.Error(err)
	}

	// Woken by NOTIFY (or the poll) for rows committed while it runs.
	more := e.add(events.OrderCompleted, 3)
	waitFor(t, "later rows marked", func() bool { return e.unpublished() == 0 })
	if got := ids(e.barrier()); fmt.Sprint(got[250:]) != fmt.Sprint(more) {
		t.Error("later rows out of order")
	}
}

func TestRolledBackRowsNeverPublish(t *testing.T) {
	e := newEnv(t)
	errAbort := errors.New("abort")
	var rolledBack string
	err := pg.InTx(context.Background(), e.db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		ev, err := events.New(events.OrderPlaced, "c", map[string]int{"n": 1}, nil)
		if err != nil {
			return err
		}
		rolledBack = ev.ID.String()
		if err := outbox.Add(context.Background(), tx, ev); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	committed := e.add(events.OrderPlaced, 1)
	e.start(New(e.db.Pool, e.vh.URL, e.settings(), quiet, nil))
	waitFor(t, "the committed row", func() bool { return e.unpublished() == 0 })
	// The committed row came after the rolled-back one, in one ordered stream: had the
	// rolled-back row been published, it would be here.
	if got := ids(e.barrier()); len(got) != 1 || got[0] != committed[0] || got[0] == rolledBack {
		t.Fatalf("published %v", got)
	}
}

func TestTwoRelaysPublishEachRowOnce(t *testing.T) {
	e := newEnv(t)
	set := e.settings()
	set.BatchSize = 25
	m1, m2 := NewMetrics(nil, e.db.Pool, 3), NewMetrics(nil, e.db.Pool, 3)
	e.start(New(e.db.Pool, e.vh.URL, set, quiet, m1))
	e.start(New(e.db.Pool, e.vh.URL, set, quiet, m2))
	var want []string
	for range 20 {
		want = append(want, e.add(events.OrderPlaced, 50)...)
	}
	waitFor(t, "every row published", func() bool { return e.unpublished() == 0 })
	got := ids(e.barrier())
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("event %s published %d times", id, seen[id])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages for %d rows", len(got), len(want))
	}
	p1, p2 := testutil.ToFloat64(m1.published), testutil.ToFloat64(m2.published)
	if p1+p2 != 1000 {
		t.Errorf("counters %v + %v", p1, p2)
	}
	t.Logf("relay 1 published %v, relay 2 published %v", p1, p2)
}

func TestCrashBetweenPublishAndMarkRepublishes(t *testing.T) {
	e := newEnv(t)
	want := e.add(events.OrderPlaced, 5)

	// The first relay dies after its confirms and before it marks the rows.
	r1 := New(e.db.Pool, e.vh.URL, e.settings(), quiet, nil)
	ctx, cancel := context.WithCancel(context.Background())
	r1.afterPublish = func(context.Context) { cancel() }
	if err := r1.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(e.barrier()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first relay published %v", got)
	}
	if n := e.unpublished(); n != 5 {
		t.Fatalf("%d rows unpublished after the crash, want 5", n)
	}

	// After the restart every row is published again and marked: none lost.
	e.start(New(e.db.Pool, e.vh.URL, e.settings(), quiet, nil))
	waitFor(t, "rows marked", func() bool { return e.unpublished() == 0 })
	got := ids(e.barrier())
	if fmt.Sprint(got) != fmt.Sprint(append(append([]string{}, want...), want...)) {
		t.Fatalf("after restart: %v", got)
	}
}

func TestReconnectsAfterBrokerAndDatabaseConnectionsDrop(t *testing.T) {
	e := newEnv(t)
	// The relay gets its own pool, named so that only its server processes are ended below.
	pool, err := pgxpool.New(context.Background(), e.db.URL+"&application_name=relay-under-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := New(pool, e.vh.URL, e.settings(), quiet, nil)
	e.start(r)
	first := e.add(events.OrderPlaced, 10)
	waitFor(t, "first rows", func() bool { return e.unpublished() == 0 })

	waitFor(t, "the relay's connection closed by the server", func() bool { return e.vh.CloseConnections(t) >= 1 })
	second := e.add(events.OrderPlaced, 10)
	waitFor(t, "rows published after the reconnect", func() bool { return e.unpublished() == 0 })
	if r.sup.Connections() < 2 {
		t.Errorf("connections opened: %d", r.sup.Connections())
	}

	// Every server process of the relay ends, as in a PostgreSQL restart.
	var ended int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'relay-under-test'`).Scan(&ended); err != nil || ended == 0 {
		t.Fatalf("terminated %d: %v", ended, err)
	}
	third := e.add(events.OrderPlaced, 10)
	waitFor(t, "rows published after the database connections dropped", func() bool { return e.unpublished() == 0 })

	// At least once: every event is there; a batch cut by the close may appear twice.
	seen := map[string]bool{}
	for _, id := range ids(e.barrier()) {
		seen[id] = true
	}
	for _, id := range append(append(first, second...), third...) {
		if !seen[id] {
			t.Fatalf("event %s lost", id)
		}
	}
}

func TestUnroutableRowFailsAndDoesNotBlockLaterRows(t *testing.T) {
	e := newEnv(t, events.OrderPlaced) // nobody is bound to order.cancelled
	stuck := e.add(events.OrderCancelled, 1)
	later := e.add(events.OrderPlaced, 3)
	m := NewMetrics(nil, e.db.Pool, 3)
	e.start(New(e.db.Pool, e.vh.URL, e.settings(), quiet, m))

	waitFor(t, "the unroutable row parked", func() bool { return testutil.ToFloat64(m.parked) == 1 })
	waitFor(t, "later rows published", func() bool { return e.unpublished() == 1 })
	if got := ids(e.barrier()); fmt.Sprint(got) != fmt.Sprint(later) {
		t.Fatalf("published %v", got)
	}
	var attempts int
	var lastErr *string
	var published *time.Time
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT attempts, last_error, published_at FROM messaging.outbox WHERE event_id = $1`, stuck[0]).
		Scan(&attempts, &lastErr, &published); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || lastErr == nil || !strings.Contains(*lastErr, "unroutable") || published != nil {
		t.Fatalf("row: attempts %d, last_error %v, published %v", attempts, lastErr, published)
	}
	if got := testutil.ToFloat64(m.failed); got != 3 {
		t.Errorf("failures counted: %v", got)
	}
}
