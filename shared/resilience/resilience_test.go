package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func fast() Settings {
	return Settings{Timeout: time.Second, MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		BreakerFailures: 3, BreakerDelay: 20 * time.Millisecond, BreakerSuccesses: 1}
}

// server answers with the statuses given, one per request, then 200s.
func server(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(hits.Add(1))
		if n <= len(statuses) {
			if statuses[n-1] == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "0")
			}
			w.WriteHeader(statuses[n-1])
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func do(t *testing.T, c *http.Client, method, url string, header ...string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestRetriesIdempotentCallsOnly(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		header   []string
		statuses []int
		want     int
		hits     int64
	}{
		{"GET retried through 503s", http.MethodGet, nil, []int{503, 502}, 200, 3},
		{"GET retried after 429", http.MethodGet, nil, []int{429}, 200, 2},
		{"GET gives up after the attempts", http.MethodGet, nil, []int{503, 503, 503, 503}, 503, 3},
		{"POST is not retried", http.MethodPost, nil, []int{503}, 503, 1},
		{"POST with an idempotency key is retried", http.MethodPost, []string{"Idempotency-Key", "k"}, []int{503}, 200, 2},
		{"4xx is not retried", http.MethodGet, nil, []int{404}, 404, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, hits := server(t, c.statuses...)
			cl := HTTPClient("dep", fast(), nil, NewMetrics(prometheus.NewRegistry()))
			resp, err := do(t, cl, c.method, srv.URL, c.header...)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.want || hits.Load() != c.hits {
				t.Fatalf("status %d after %d attempts, want %d after %d", resp.StatusCode, hits.Load(), c.want, c.hits)
			}
		})
	}
}

func TestBreakerOpensFailsFastAndCloses(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	s := fast()
	s.MaxAttempts = 1
	s.BreakerDelay = 50 * time.Millisecond
	cl := HTTPClient("payments", s, nil, m)

	for range s.BreakerFailures {
		if resp, err := do(t, cl, http.MethodPost, srv.URL); err != nil || resp.StatusCode != 503 {
			t.Fatalf("while closed: %v %v", resp, err)
		}
	}
	if got := testutil.ToFloat64(m.state.WithLabelValues("payments")); got != 2 {
		t.Fatalf("breaker state %v after %d failures, want 2 (open)", got, s.BreakerFailures)
	}
	before := hits.Load()
	_, err := do(t, cl, http.MethodPost, srv.URL)
	if !IsOpen(err) || hits.Load() != before {
		t.Fatalf("open breaker let a call through: err %v, hits %d -> %d", err, before, hits.Load())
	}
	if testutil.ToFloat64(m.calls.WithLabelValues("payments", "rejected")) != 1 {
		t.Error("rejected call not counted")
	}

	down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := do(t, cl, http.MethodPost, srv.URL)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if !IsOpen(err) || time.Now().After(deadline) {
			t.Fatalf("breaker did not let a probe through: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // polling the breaker's delay, not synchronising with a peer
	}
	if got := testutil.ToFloat64(m.state.WithLabelValues("payments")); got != 0 {
		t.Fatalf("breaker state %v after a good probe, want 0 (closed)", got)
	}
}

func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := fast()
	s.Timeout = 20 * time.Millisecond
	s.MaxAttempts = 2
	cl := HTTPClient("slow", s, nil, NewMetrics(prometheus.NewRegistry()))
	_, err := do(t, cl, http.MethodGet, srv.URL)
	if err == nil {
		t.Fatal("a hung dependency did not time out")
	}
}

func TestGuard(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	s := fast()
	g := NewGuard("smtp", s, m)
	calls := 0
	err := g.Run(context.Background(), true, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("connection refused")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("idempotent: %v after %d calls", err, calls)
	}
	calls = 0
	err = g.Run(context.Background(), false, func(context.Context) error { calls++; return errors.New("boom") })
	if err == nil || calls != 1 {
		t.Fatalf("not idempotent: %v after %d calls", err, calls)
	}
}
