// Package bench measures the order pipeline on the running platform (e2e/platform): sustained
// completed orders per second, placed-to-completed latency at half that rate, PostgreSQL
// commits per order, and pgbench's simple-update TPS on the same server in the same run, so
// the figures read as a fraction of the database-bound limit. It prints figures and asserts
// nothing about time.
//
//	make bench-orders    # or: cd e2e && go test -run '^$' -bench Orders -benchtime 1x ./bench/
package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Cleanup()
	os.Exit(code)
}

// Settings, from the environment so `make bench-orders BENCH_SECONDS=30` can stretch them.
var (
	phase   = envDuration("BENCH_ORDERS_PHASE", 20*time.Second)  // each measured phase
	pgPhase = envDuration("BENCH_PGBENCH_PHASE", 15*time.Second) // pgbench -T
	placers = 32                                                 // concurrent customers in the throughput phase
)

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
		if s, err := strconv.Atoi(v); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return def
}

// pgStatFlush is how long PostgreSQL 15 may keep an idle backend's statistics before they
// reach pg_stat_database (PGSTAT_IDLE_INTERVAL, 10 s), plus a margin.
const pgStatFlush = 11 * time.Second

func BenchmarkOrders(b *testing.B) {
	for range b.N {
		run(b)
	}
}

func run(b *testing.B) {
	tps := pgbenchTPS(b)

	quiet := map[string]string{"LOG_LEVEL": "warn"}
	p := platform.Start(b, platform.Options{Env: quiet, Relay: quiet, Connector: quiet})
	s := newShop(b, p)
	// Warm-up: every function has a replica and a pool.
	s.settle(b, s.placeAll(b, 64, 16))

	// Sustained throughput: placers keep placing for the phase; the pipeline's rate is
	// orders over first placement to last completion (the backlog drains at that rate).
	var (
		ids  []string
		mu   sync.Mutex
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	for w := range placers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if id := s.place(b, w+i); id != "" {
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(phase) // the phase's length: the placers run meanwhile
	stop.Store(true)
	wg.Wait()
	s.settle(b, ids)
	s.quiet(b)
	span, completed := s.span(b, ids)
	rate := float64(completed) / span.Seconds()

	// Idle commits (relay polls, metrics scrapes) per second, to subtract below.
	time.Sleep(pgStatFlush) // statistics of the phase reach pg_stat_database
	x0, t0 := p.XactCommits(b), time.Now()
	time.Sleep(pgStatFlush)
	idle := float64(p.XactCommits(b)-x0) / time.Since(t0).Seconds()

	// Latency at half the sustained rate: an open loop placing one order every interval.
	half := rate / 2
	interval := time.Duration(float64(time.Second) / half)
	xa, ta := p.XactCommits(b), time.Now()
	ids = ids[:0]
	tick := time.NewTicker(interval)
	end := time.After(phase)
	n := 0
loop:
	for {
		select {
		case <-end:
			break loop
		case <-tick.C:
			n++
			k := n
			wg.Go(func() {
				if id := s.place(b, k); id != "" {
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
			})
		}
	}
	tick.Stop()
	wg.Wait()
	s.settle(b, ids)
	s.quiet(b)
	lat := s.latencies(b, ids)
	time.Sleep(pgStatFlush) // statistics of the phase reach pg_stat_database
	xb, tb := p.XactCommits(b), time.Now()
	raw := float64(xb - xa)
	net := raw - idle*tb.Sub(ta).Seconds()
	perOrder := net / float64(len(ids))

	p50, p99 := pct(lat, 50), pct(lat, 99)
	dbBound := tps / perOrder
	fmt.Printf(`
== orders on the running platform (2 cores; every function a process, PostgreSQL and RabbitMQ on loopback)
sustained completed orders/s                 %8.1f   (%d orders, first placed to last completed %.1fs, %d placers)
placed->completed latency at %5.1f orders/s   p50 %6.1f ms   p99 %6.1f ms   (%d orders, database timestamps)
PostgreSQL commits per order                 %8.1f   (%.0f commits in the latency phase, %.1f/s idle subtracted)
pgbench -N -c 8 -j 2 -T %-3.0f (same server)     %8.0f TPS (simple update, scale 10, its own database)
database-bound limit (pgbench TPS / commits per order)  %8.1f orders/s
sustained orders/s / that limit (= commits/s at that rate / pgbench TPS)   %5.2f
`, rate, completed, span.Seconds(), placers, half, ms(p50), ms(p99), len(ids), perOrder, raw, idle,
		pgPhase.Seconds(), tps, dbBound, rate/dbBound)
	b.ReportMetric(rate, "orders/s")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(perOrder, "commits/order")
	b.ReportMetric(tps, "pgbench-tps")
	b.ReportMetric(rate/dbBound, "of-db-limit")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pct(ds []time.Duration, q int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, (len(ds)*q+99)/100-1)]
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchTPS runs pgbench -N on a scratch database of the test server and drops it.
func pgbenchTPS(b *testing.B) float64 {
	b.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	name := "fc_pgbench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			b.Errorf("drop %s: %v", name, err)
		}
	}()
	cc, err := pgx.ParseConfig(pgtest.AdminURL())
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"-h", cc.Host, "-p", strconv.Itoa(int(cc.Port)), "-U", cc.User}
	if out, err := exec.Command("pgbench", append(args, "-i", "-q", "-s", "10", name)...).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	out, err := exec.Command("pgbench", append(args, "-N", "-c", "8", "-j", "2", "-T", strconv.Itoa(int(pgPhase.Seconds())), name)...).CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench -N: %v\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no tps in pgbench's output:\n%s", out)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(err)
	}
	return tps
}

// shop is the bench's customers and product.
type shop struct {
	p       *platform.Platform
	product string
	tokens  []string
}

func newShop(b *testing.B, p *platform.Platform) *shop {
	b.Helper()
	admin := p.AdminToken(b)
	var pr struct {
		ID string `json:"id"`
	}
	p.Call(b, http.MethodPost, "create-product", admin, map[string]any{
		"sku": "BENCH-1", "name": "Bench mug", "price": map[string]any{"amount": 1500, "currency": "EUR"},
	}).Decode(b, &pr)
	if r := p.Call(b, http.MethodPost, "restock/"+pr.ID, admin, map[string]any{"quantity": 1000000}); r.Status/100 != 2 {
		b.Fatalf("restock: %d %s", r.Status, r.Body)
	}
	s := &shop{p: p, product: pr.ID}
	for i := range 8 {
		email := fmt.Sprintf("bench-%d@example.com", i)
		if r := p.Call(b, http.MethodPost, "register-customer", "", map[string]any{"email": email, "name": "Bench", "password": "correct horse battery staple"}); r.Status != http.StatusCreated {
			b.Fatalf("register: %d %s", r.Status, r.Body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		p.Call(b, http.MethodPost, "issue-token/sign-in", "", map[string]any{"email": email, "password": "correct horse battery staple"}).Decode(b, &tok)
		s.tokens = append(s.tokens, tok.AccessToken)
	}
	return s
}

// place places one order of 1 unit and returns its id ("" when not accepted).
func (s *shop) place(b *testing.B, i int) string {
	r, err := s.p.TryCall(context.Background(), http.MethodPost, "create-order", s.tokens[i%len(s.tokens)],
		map[string]any{"lines": []any{map[string]any{"product_id": s.product, "quantity": 1}}})
	if err != nil || r.Status != http.StatusAccepted {
		b.Errorf("create-order: %v %d %s", err, r.Status, r.Body)
		return ""
	}
	var o struct {
		ID string `json:"id"`
	}
	r.Decode(b, &o)
	return o.ID
}

// placeAll places n orders with c at a time.
func (s *shop) placeAll(b *testing.B, n, c int) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, c)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() { ids[i] = s.place(b, i); <-sem })
	}
	wg.Wait()
	return ids
}

// settle waits until every order is COMPLETED (the bench's orders all complete).
func (s *shop) settle(b *testing.B, ids []string) {
	b.Helper()
	var done int
	platform.Eventually(b, 10*time.Minute, func() bool {
		err := s.p.DB.Pool.QueryRow(context.Background(), "SELECT count(*) FROM orders.orders WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED'", ids).Scan(&done)
		return err == nil && done == len(ids)
	}, func() string { return fmt.Sprintf("%d of %d orders completed", done, len(ids)) })
}

// span is first placement to last completion of the orders, and how many there are.
func (s *shop) span(b *testing.B, ids []string) (time.Duration, int) {
	b.Helper()
	var (
		first, last time.Time
		n           int
	)
	if err := s.p.DB.Pool.QueryRow(context.Background(), "SELECT min(created_at), max(updated_at), count(*) FROM orders.orders WHERE id = ANY($1::uuid[])", ids).Scan(&first, &last, &n); err != nil {
		b.Fatal(err)
	}
	return last.Sub(first), n
}

// latencies are placed (created_at) to completed (updated_at) of each order.
func (s *shop) latencies(b *testing.B, ids []string) []time.Duration {
	b.Helper()
	rows, err := s.p.DB.Pool.Query(context.Background(), "SELECT (extract(epoch FROM updated_at - created_at) * 1e6)::bigint FROM orders.orders WHERE id = ANY($1::uuid[])", ids)
	if err != nil {
		b.Fatal(err)
	}
	micros, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		b.Fatal(err)
	}
	out := make([]time.Duration, len(micros))
	for i, us := range micros {
		out[i] = time.Duration(us) * time.Microsecond
	}
	return out
}

// quiet waits until the outbox is published and every order.placed and order.completed has
// been handled by send-notification, the pipeline's last step.
func (s *shop) quiet(b *testing.B) {
	b.Helper()
	var left int
	platform.Eventually(b, 5*time.Minute, func() bool {
		err := s.p.DB.Pool.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL) +
			(SELECT count(*) FROM messaging.outbox o WHERE o.event_type IN ('order.placed', 'order.completed')
			 AND NOT EXISTS (SELECT 1 FROM messaging.inbox i WHERE i.consumer = 'send-notification' AND i.event_id = o.event_id))`).Scan(&left)
		return err == nil && left == 0
	}, func() string { return fmt.Sprintf("%d events not yet published or notified", left) })
}
