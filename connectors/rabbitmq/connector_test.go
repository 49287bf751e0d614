package rabbitmq

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAcksAfter2xxWithHeaders(t *testing.T) {
	r := newRig(t)
	r.gw.deploy("notify", "order.placed, order.completed", ok)
	c := r.start(false)
	r.ready(1)
	placed := r.publish("order.placed", `{"n":1}`, `{"n":2}`)
	completed := r.publish("order.completed", `{"n":3}`)

	waitFor(t, "acks", func() bool { return testutil.ToFloat64(c.metrics.acks.WithLabelValues("notify.openfaas-fn")) == 3 })
	calls := r.gw.callsTo("notify")
	if len(calls) != 3 {
		t.Fatalf("%d calls", len(calls))
	}
	// Up to the concurrency run at once, so the calls may come in any order.
	slices.SortFunc(calls, func(a, b call) int { return strings.Compare(a.body, b.body) })
	for i, want := range []struct{ id, topic, body string }{
		{placed[0], "order.placed", `{"n":1}`}, {placed[1], "order.placed", `{"n":2}`}, {completed[0], "order.completed", `{"n":3}`},
	} {
		h := calls[i].header
		if h.Get("X-Message-Id") != want.id || h.Get("X-Topic") != want.topic || calls[i].body != want.body ||
			h.Get("X-Call-Id") == "" || h.Get("Traceparent") != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" ||
			h.Get("Content-Type") != "application/json" || h.Get("X-Correlation-Id") != "order-1" {
			t.Errorf("call %d: body %q headers %v", i, calls[i].body, h)
		}
	}
	if d := r.queueDepth("test.notify"); d != 0 {
		t.Errorf("queue depth %d", d)
	}
	if dl := r.dlq("notify"); len(dl) != 0 {
		t.Errorf("dead letters: %v", dl)
	}
}

func TestRetries5xxThenSucceeds(t *testing.T) {
	r := newRig(t)
	var n atomic.Int32
	r.gw.deploy("flaky", "order.placed", func(w http.ResponseWriter, _ call) {
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := r.start(false)
	r.ready(1)
	id := r.publish("order.placed", `{}`)[0]
	waitFor(t, "ack", func() bool { return testutil.ToFloat64(c.metrics.acks.WithLabelValues("flaky.openfaas-fn")) == 1 })
	calls := r.gw.callsTo("flaky")
	var attempts []string
	for _, cl := range calls {
		if cl.header.Get("X-Message-Id") != id {
			t.Errorf("call for %s", cl.header.Get("X-Message-Id"))
		}
		attempts = append(attempts, cl.header.Get("X-Delivery-Attempt"))
	}
	if fmt.Sprint(attempts) != "[1 2 3]" {
		t.Errorf("attempts %v", attempts)
	}
	if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("flaky.openfaas-fn")); got != 2 {
		t.Errorf("retries %v", got)
	}
	if dl := r.dlq("flaky"); len(dl) != 0 {
		t.Errorf("dead letters: %v", dl)
	}
}

func TestRetryableFailuresDeadLetterAfterMaxAttempts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(http.ResponseWriter, call)
	}{
		{"500", func(w http.ResponseWriter, _ call) { w.WriteHeader(http.StatusInternalServerError) }},
		{"503", func(w http.ResponseWriter, _ call) { w.WriteHeader(http.StatusServiceUnavailable) }},
		{"408", func(w http.ResponseWriter, _ call) { w.WriteHeader(http.StatusRequestTimeout) }},
		{"no-answer", func(w http.ResponseWriter, _ call) {
			// The connection is dropped without an answer, as a crashed function's would be.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.gw.deploy("broken", "order.placed", tc.handler)
			c := r.start(false)
			r.ready(1)
			id := r.publish("order.placed", `{}`)[0]
			waitFor(t, "dead letter", func() bool { return len(r.dlq("broken")) == 1 })
			if n := len(r.gw.callsTo("broken")); n != r.cfg.MaxAttempts {
				t.Errorf("%d calls, want %d", n, r.cfg.MaxAttempts)
			}
			dl := r.dlq("broken")[0]
			if dl.MessageID != id || dl.Topic != "order.placed" || dl.Reason != "rejected" {
				t.Errorf("dead letter %+v", dl)
			}
			if got := testutil.ToFloat64(c.metrics.deadLetters.WithLabelValues("broken.openfaas-fn", "attempts_exhausted")); got != 1 {
				t.Errorf("dead-letter counter %v", got)
			}
			if d := r.queueDepth("test.broken"); d != 0 {
				t.Errorf("queue depth %d", d)
			}
		})
	}
}

func TestClientErrorsDeadLetterAtOnce(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			r := newRig(t)
			r.gw.deploy("strict", "order.placed", func(w http.ResponseWriter, _ call) { w.WriteHeader(status) })
			c := r.start(false)
			r.ready(1)
			id := r.publish("order.placed", `{}`)[0]
			waitFor(t, "dead letter", func() bool { return len(r.dlq("strict")) == 1 })
			if n := len(r.gw.callsTo("strict")); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
			if dl := r.dlq("strict")[0]; dl.MessageID != id {
				t.Errorf("dead letter %+v", dl)
			}
			if got := testutil.ToFloat64(c.metrics.deadLetters.WithLabelValues("strict.openfaas-fn", "client_error")); got != 1 {
				t.Errorf("dead-letter counter %v", got)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	r := newRig(t)
	var n atomic.Int32
	r.gw.deploy("busy", "order.placed", func(w http.ResponseWriter, _ call) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", "3600") // beyond the cap
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	c := r.start(true)
	r.ready(1)
	r.publish("order.placed", `{}`)
	waitFor(t, "ack", func() bool { return testutil.ToFloat64(c.metrics.acks.WithLabelValues("busy.openfaas-fn")) == 1 })
	if got := len(r.gw.callsTo("busy")); got != 3 {
		t.Fatalf("%d calls", got)
	}
	r.sleepsMu.Lock()
	defer r.sleepsMu.Unlock()
	// The waits asked for: the Retry-After, then the Retry-After cut to the cap (not the
	// millisecond backoff the settings would give).
	if !slices.Equal(r.sleeps, []time.Duration{7 * time.Second, r.cfg.RetryAfterCap}) {
		t.Errorf("waits %v", r.sleeps)
	}
}

func TestPoisonMessagesDoNotBlockTheQueue(t *testing.T) {
	r := newRig(t)
	var mu sync.Mutex
	handled := map[string]int{}
	r.gw.deploy("reserve", "order.placed", func(w http.ResponseWriter, c call) {
		if c.body == "malformed" {
			http.Error(w, `{"error":"malformed event"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		handled[c.header.Get("X-Message-Id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}, ConcurrencyAnnotation, "8")
	c := r.start(false)
	r.ready(1)
	var good, bad []string
	for i := range 10 {
		good = append(good, r.publish("order.placed", repeat(`{"ok":true}`, 99)...)...)
		bad = append(bad, r.publish("order.placed", "malformed")...)
		_ = i
	}
	good = good[:990]
	waitFor(t, "every message handled", func() bool {
		return testutil.ToFloat64(c.metrics.acks.WithLabelValues("reserve.openfaas-fn")) == 990 && len(r.dlq("reserve")) == 10
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range good {
		if handled[id] != 1 {
			t.Fatalf("message %s handled %d times", id, handled[id])
		}
	}
	var dead []string
	for _, dl := range r.dlq("reserve") {
		dead = append(dead, dl.MessageID)
	}
	slices.Sort(dead)
	slices.Sort(bad)
	if !slices.Equal(dead, bad) {
		t.Errorf("dead letters %v, want %v", dead, bad)
	}
}

func TestReplayMovesADeadLetterBackAndItCompletes(t *testing.T) {
	r := newRig(t)
	var fixed atomic.Bool
	r.gw.deploy("charge", "stock.reserved", func(w http.ResponseWriter, _ call) {
		if !fixed.Load() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	r.gw.deploy("audit", "stock.reserved", ok) // another subscriber: must not see the replay
	c := r.start(false)
	r.ready(2)
	ids := r.publish("stock.reserved", `{"a":1}`, `{"b":2}`)
	waitFor(t, "two dead letters", func() bool { return len(r.dlq("charge")) == 2 })
	waitFor(t, "audit handled both", func() bool { return len(r.gw.callsTo("audit")) == 2 })
	fixed.Store(true)

	conn := r.vh.Dial(t)
	f := Function{Name: "charge", Namespace: "openfaas-fn"}
	if n, err := ReplayDLQ(context.Background(), conn, r.cfg, f, "no-such-id"); err != nil || n != 0 {
		t.Fatalf("replay of an unknown id: %d, %v", n, err)
	}
	// Closing the scan's channel hands both messages back to the DLQ; a quorum queue does that
	// asynchronously.
	waitFor(t, "both back in the DLQ", func() bool { return len(r.dlq("charge")) == 2 })
	n, err := ReplayDLQ(context.Background(), conn, r.cfg, f, ids[1])
	if err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	waitFor(t, "the replayed message acked", func() bool {
		return testutil.ToFloat64(c.metrics.acks.WithLabelValues("charge.openfaas-fn")) == 1
	})
	calls := r.gw.callsTo("charge")
	last := calls[len(calls)-1]
	if last.header.Get("X-Message-Id") != ids[1] || last.header.Get("X-Topic") != "stock.reserved" || last.body != `{"b":2}` {
		t.Errorf("replayed call: %q %v", last.body, last.header)
	}
	if dl := r.dlq("charge"); len(dl) != 1 || dl[0].MessageID != ids[0] {
		t.Errorf("left in the DLQ: %+v", dl)
	}
	// The rest in one go.
	if n, err := ReplayDLQ(context.Background(), conn, r.cfg, f, ""); err != nil || n != 1 {
		t.Fatalf("replay all: %d, %v", n, err)
	}
	waitFor(t, "all acked", func() bool { return testutil.ToFloat64(c.metrics.acks.WithLabelValues("charge.openfaas-fn")) == 2 })
	if got := len(r.gw.callsTo("audit")); got != 2 {
		t.Errorf("the other subscriber got %d calls, want 2", got)
	}
	if _, err := ListDLQ(context.Background(), conn, r.cfg, Function{Name: "never-deployed"}); err == nil {
		t.Error("listing a DLQ that does not exist should fail")
	}
}

func TestConcurrencyAnnotationBoundsInFlight(t *testing.T) {
	r := newRig(t)
	const limit, total = 3, 30
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	r.gw.deploy("slow", "order.placed", func(w http.ResponseWriter, _ call) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	}, ConcurrencyAnnotation, strconv.Itoa(limit))
	c := r.start(false)
	r.ready(1)
	r.publish("order.placed", repeat(`{}`, total)...)
	// The broker holds back all but the prefetch: limit in flight, the rest ready in the queue.
	waitFor(t, "the prefetch taken", func() bool { return inFlight.Load() == limit && r.queueDepth("test.slow") == total-limit })
	close(release)
	waitFor(t, "all acked", func() bool { return testutil.ToFloat64(c.metrics.acks.WithLabelValues("slow.openfaas-fn")) == total })
	if p := peak.Load(); p > limit {
		t.Errorf("peak in flight %d, above %d", p, limit)
	}
}

func TestNewFunctionGetsAQueueAfterRefresh(t *testing.T) {
	r := newRig(t)
	r.gw.deploy("first", "order.placed", ok)
	r.gw.deploy("no-topics", "", ok) // no topic: no queue
	c := r.start(false)
	r.ready(1)
	if d := r.queueDepth("test.second"); d != -1 {
		t.Fatal("queue before the deploy")
	}
	r.gw.deploy("second", "order.completed", ok, ConcurrencyAnnotation, "2")
	c.Refresh()
	r.ready(2)
	if d := r.queueDepth("test.second"); d != 0 {
		t.Fatalf("queue depth %d", d)
	}
	if d := r.queueDepth("test.no-topics"); d != -1 {
		t.Error("a function without topics got a queue")
	}
	r.publish("order.completed", `{}`)
	waitFor(t, "the new function invoked", func() bool { return len(r.gw.callsTo("second")) == 1 })

	// A removed function's consumer stops; its queue stays and keeps its messages.
	r.gw.mu.Lock()
	delete(r.gw.functions, "second")
	r.gw.mu.Unlock()
	c.Refresh()
	r.ready(1)
	r.publish("order.completed", `{}`)
	if d := r.queueDepth("test.second"); d != 1 {
		t.Errorf("queue of the removed function holds %d", d)
	}
}

func TestReconnectsAfterTheServerClosesTheConnection(t *testing.T) {
	r := newRig(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	r.gw.deploy("track", "order.placed", func(w http.ResponseWriter, c call) {
		mu.Lock()
		seen[c.header.Get("X-Message-Id")] = true
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	c := r.start(false)
	r.ready(1)
	ids := r.publish("order.placed", repeat(`{}`, 50)...)
	waitFor(t, "first acks", func() bool { return testutil.ToFloat64(c.metrics.acks.WithLabelValues("track.openfaas-fn")) == 50 })

	waitFor(t, "the connector's connection closed", func() bool { return r.vh.CloseConnections(t) >= 1 })
	waitFor(t, "a fresh connection", func() bool { return c.sup.Connections() >= 2 && c.functionsRunning() == 1 })
	ids = append(ids, r.publish("order.placed", repeat(`{}`, 50)...)...)
	waitFor(t, "every message handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	waitFor(t, "queue drained", func() bool { return r.queueDepth("test.track") == 0 })
	if dl := r.dlq("track"); len(dl) != 0 {
		t.Errorf("dead letters: %v", dl)
	}
}
