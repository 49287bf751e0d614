package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
)

// chaos places waves of mixed orders while a part of the platform fails.
type chaos struct {
	s                        *shop
	p                        *platform.Platform
	toks                     []string
	plenty, declined, scarce product
	retried                  map[int]int // the last background wave's retried answers
}

// wave places n mixed orders at once (completing, declined, and competing for a scarce
// product) and returns their ids; every one must be accepted.
func (c *chaos) wave(t *testing.T, n int) []string {
	t.Helper()
	ids, _ := c.waveRetrying(t, n, false)
	return ids
}

// waveRetrying is wave with customers retrying 5xx answers (same Idempotency-Key); it also
// returns the answers retried, by status.
func (c *chaos) waveRetrying(t *testing.T, n int, retryServerErrors bool) ([]string, map[int]int) {
	t.Helper()
	var ps []placement
	for i := range n {
		lines := []any{line(c.plenty, 1+i%2)}
		switch i % 4 {
		case 1:
			lines = []any{line(c.declined, 1)}
		case 2:
			lines = append(lines, line(c.scarce, 1))
		}
		ps = append(ps, placement{token: c.toks[i%len(c.toks)], lines: lines})
	}
	ids, other, retried := c.s.placeAll(t, ps, retryServerErrors)
	if len(other) > 0 {
		t.Errorf("create-order answered other than 202: %v (status 0: transport error)", other)
	}
	return ids, retried
}

// background runs a wave in its own goroutine; the returned func waits for its ids.
func (c *chaos) background(t *testing.T, n int, retryServerErrors bool) func() []string {
	var (
		ids []string
		wg  sync.WaitGroup
	)
	wg.Go(func() { ids, c.retried = c.waveRetrying(t, n, retryServerErrors) })
	return func() []string { wg.Wait(); return ids }
}

// outboxRows counts the outbox, and those rows not yet published.
func (c *chaos) outboxRows(t *testing.T) (all, unpublished int) {
	t.Helper()
	if err := c.p.DB.Pool.QueryRow(t.Context(), "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM messaging.outbox").Scan(&all, &unpublished); err != nil {
		t.Fatal(err)
	}
	return all, unpublished
}

// settle waits until every order is final and the platform is quiet, then checks the books.
func (c *chaos) settle(t *testing.T, ids []string) {
	t.Helper()
	got := c.s.settled(t, ids, 3*time.Minute)
	quiet(t, c.p, 2*time.Minute)
	checkBooks(t, c.p)
	outcomes := map[string]int{}
	for _, o := range got {
		outcomes[o.Status+" "+o.CancelReason]++
	}
	t.Logf("%d orders: %v", len(ids), outcomes)
}

func (c *chaos) paymentFaults(t *testing.T, state string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, c.p.PaymentURL+"/admin/faults", bytes.NewReader([]byte(state)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /admin/faults %s: %d", state, resp.StatusCode)
	}
}

// inFlight is what the connector holds (of the functions with these labels): deliveries
// neither acked nor dead-lettered.
func (c *chaos) inFlight(labels ...string) float64 {
	d, err1 := platform.Metric(c.p.ConnectorMetrics, "connector_deliveries_total", labels...)
	a, err2 := platform.Metric(c.p.ConnectorMetrics, "connector_acks_total", labels...)
	x, err3 := platform.Metric(c.p.ConnectorMetrics, "connector_dead_letters_total", labels...)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0
	}
	return d - a - x
}

// TestChaos runs orders while the relay, the connector, function processes, RabbitMQ and
// PostgreSQL fail. RabbitMQ and PostgreSQL are private servers, so the machine's stay up for
// other tests. After each failure every order ends COMPLETED or CANCELLED and the books hold
// (checkBooks).
func TestChaos(t *testing.T) {
	node := platform.StartRabbitNode(t)
	db := platform.StartPostgres(t)
	p := platform.Start(t, platform.Options{AMQPBaseURL: node.URL, RabbitNode: node.Name, DB: db.NewDB(t)})
	s := newShop(t, p)
	c := &chaos{s: s, p: p, toks: s.customers(t, "chaos", 6)}
	c.plenty = s.product(t, "CHAOS-PLENTY", 1500, 100000)
	c.declined = s.product(t, "CHAOS-DECLINED", 1013, 100000)
	c.scarce = s.product(t, "CHAOS-SCARCE", 700, 60)

	t.Run("RelayKilledBetweenCommitAndPublish", func(t *testing.T) {
		before, _ := c.outboxRows(t)
		wait := c.background(t, 120, false)
		// Mid-wave: once orders are committing, the relay dies (SIGKILL) and stays down.
		platform.Eventually(t, time.Minute, func() bool { n, _ := c.outboxRows(t); return n >= before+20 },
			func() string { return "no orders committed" })
		p.Procs["relay"].Kill()
		ids := wait()
		// Committed, with their events, and not published: what a crash between the
		// commit and the publish leaves.
		if _, unpublished := c.outboxRows(t); unpublished == 0 {
			t.Fatal("no outbox row waits for the relay")
		}
		p.Restart(t, "relay")
		c.settle(t, ids)
	})

	t.Run("RelayKilledBetweenPublishAndCommit", func(t *testing.T) {
		// The relay publishes a batch, then marks it published and commits. A trigger makes
		// the marking wait on a lock the test holds, so the relay is caught after RabbitMQ
		// confirmed the batch and before its commit, and killed there: the rows stay
		// unpublished and go out again after the restart, which every consumer must shrug off.
		ctx := t.Context()
		hold, err := p.DB.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer hold.Release()
		if _, err := hold.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
			t.Fatal(err)
		}
		for _, sql := range []string{
			`CREATE FUNCTION messaging.e2e_hold_marking() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NULL; END $$`,
			`CREATE TRIGGER e2e_hold_marking BEFORE UPDATE OF published_at ON messaging.outbox
			FOR EACH STATEMENT EXECUTE FUNCTION messaging.e2e_hold_marking()`,
		} {
			if _, err := p.DB.Pool.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
		wait := c.background(t, 40, false)
		// Caught: the relay's marking waits, and consumers already handle what it published.
		var early int
		platform.Eventually(t, time.Minute, func() bool {
			err := p.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM messaging.outbox o WHERE o.published_at IS NULL
				AND EXISTS (SELECT 1 FROM messaging.inbox i WHERE i.event_id = o.event_id)
				AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = current_database() AND a.wait_event = 'advisory'
				AND a.query LIKE 'UPDATE messaging.outbox SET published_at%')`).Scan(&early)
			return err == nil && early > 0
		}, func() string { return "the relay was not caught between publish and commit" })
		p.Procs["relay"].Kill()
		if _, err := hold.Exec(ctx, "SELECT pg_advisory_unlock(4242)"); err != nil {
			t.Fatal(err)
		}
		// The killed relay's transaction ends without a commit once its backend sees the
		// client gone; dropping the trigger waits for that.
		for _, sql := range []string{"DROP TRIGGER e2e_hold_marking ON messaging.outbox", "DROP FUNCTION messaging.e2e_hold_marking()"} {
			if _, err := p.DB.Pool.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, p, `SELECT count(*) FROM messaging.outbox o WHERE o.published_at IS NULL
			AND EXISTS (SELECT 1 FROM messaging.inbox i WHERE i.event_id = o.event_id)`); n == 0 {
			t.Fatal("no event is both handled and unpublished: the relay's batch was committed after all")
		} else {
			t.Logf("%d events delivered whose outbox rows the killed relay never marked; they go out again", n)
		}
		p.Restart(t, "relay")
		c.settle(t, wait())
	})

	t.Run("ConnectorKilledMidDelivery", func(t *testing.T) {
		// A slow payment provider keeps charge-payment's deliveries in flight.
		c.paymentFaults(t, `{"latency":"300ms"}`)
		charging := []string{"function", "charge-payment.openfaas-fn"}
		wait := c.background(t, 120, false)
		platform.Eventually(t, time.Minute, func() bool { return c.inFlight(charging...) >= 4 },
			func() string { return fmt.Sprintf("%v charges in flight", c.inFlight(charging...)) })
		p.Procs["rabbitmq-connector"].Kill()
		p.Restart(t, "rabbitmq-connector")
		// And once more while the redeliveries are being handled.
		platform.Eventually(t, time.Minute, func() bool { return c.inFlight(charging...) >= 2 },
			func() string { return fmt.Sprintf("%v charges in flight", c.inFlight(charging...)) })
		p.Procs["rabbitmq-connector"].Kill()
		p.Restart(t, "rabbitmq-connector")
		ids := wait()
		c.paymentFaults(t, `{"latency":"0s"}`)
		c.settle(t, ids)
	})

	t.Run("FunctionProcessesKilled", func(t *testing.T) {
		c.paymentFaults(t, `{"latency":"100ms"}`)
		wait := c.background(t, 120, false)
		killed := 0
		for _, fn := range []string{"adjust-stock", "charge-payment", "complete-order", "cancel-order", "send-notification"} {
			var pids []int
			platform.Eventually(t, time.Minute, func() bool { pids = p.FunctionPIDs(t, fn); return len(pids) > 0 },
				func() string { return fn + " has no ready replica" })
			if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
				t.Fatalf("kill %s replica %d: %v", fn, pids[0], err)
			}
			killed++
		}
		ids := wait()
		c.paymentFaults(t, `{"latency":"0s"}`)
		c.settle(t, ids)
		if killed == 0 {
			t.Fatal("no function process was killed")
		}
	})

	t.Run("RabbitMQRestartedDuringRun", func(t *testing.T) {
		first := c.background(t, 80, false)
		platform.Eventually(t, time.Minute, func() bool { return c.inFlight() >= 1 },
			func() string { return "nothing in flight" })
		node.StopApp(t)
		// Orders go on being accepted while the broker is away; their events wait in the outbox.
		during := c.wave(t, 40)
		node.StartApp(t)
		ids := append(first(), during...)
		c.settle(t, ids)
	})

	t.Run("PostgreSQLRestartedDuringRun", func(t *testing.T) {
		// Requests while the database is away are answered 503 with Retry-After (a dependency
		// is down), and customers retry them with the same Idempotency-Key: each order is
		// placed once.
		orders0 := count(t, p, "SELECT count(*) FROM orders.orders")
		before, _ := c.outboxRows(t)
		wait := c.background(t, 80, true)
		// While orders are being placed and events delivered.
		platform.Eventually(t, time.Minute, func() bool { n, _ := c.outboxRows(t); return n >= before+10 },
			func() string { return "no orders committed" })
		// Immediate: as a crash, every session ends and the server recovers from its WAL.
		db.Restart(t, "immediate")
		ids := wait()
		c.settle(t, ids)
		if n := count(t, p, "SELECT count(*) FROM orders.orders") - orders0; n != 80 || len(ids) != 80 {
			t.Errorf("%d orders stored and %d accepted for 80 placed", n, len(ids))
		}
		for status, n := range c.retried {
			if status != http.StatusServiceUnavailable {
				t.Errorf("%d answers %d while the database restarted, want only 503", n, status)
			}
		}
	})
}
