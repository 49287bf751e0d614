package rabbitmq

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/broker/brokertest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	testUser     = "admin"
	testPassword = "s3cret"
	testExchange = "test.events"
)

// call is one invocation the fake gateway received.
type call struct {
	fn     string
	header http.Header
	body   string
}

// gateway is an OpenFaaS gateway stand-in on a real HTTP listener: /system/namespaces and
// /system/functions behind basic auth, and /function/NAME.NAMESPACE running the test's handler.
type gateway struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	functions map[string]fakeFunction
	calls     []call
}

type fakeFunction struct {
	annotations map[string]string
	handler     func(w http.ResponseWriter, c call)
}

func ok(w http.ResponseWriter, _ call) { w.WriteHeader(http.StatusOK) }

func newGateway(t *testing.T) *gateway {
	g := &gateway{t: t, functions: map[string]fakeFunction{}}
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if u, p, found := r.BasicAuth(); !found || u != testUser || p != testPassword {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /system/namespaces", auth(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode([]string{"openfaas-fn"})
	}))
	mux.HandleFunc("GET /system/functions", auth(func(w http.ResponseWriter, r *http.Request) {
		if ns := r.URL.Query().Get("namespace"); ns != "" && ns != "openfaas-fn" {
			_ = json.NewEncoder(w).Encode([]any{})
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		list := []map[string]any{}
		for name, f := range g.functions {
			list = append(list, map[string]any{"name": name, "image": "x", "namespace": "openfaas-fn", "annotations": f.annotations})
		}
		_ = json.NewEncoder(w).Encode(list)
	}))
	mux.HandleFunc("POST /function/{name}", func(w http.ResponseWriter, r *http.Request) {
		name, _ := strings.CutSuffix(r.PathValue("name"), ".openfaas-fn")
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		f, found := g.functions[name]
		c := call{fn: name, header: r.Header.Clone(), body: string(body)}
		g.calls = append(g.calls, c)
		g.mu.Unlock()
		if !found {
			http.Error(w, `{"error":"no such function"}`, http.StatusNotFound)
			return
		}
		f.handler(w, c)
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) deploy(name, topics string, handler func(http.ResponseWriter, call), annotations ...string) {
	a := map[string]string{"topic": topics}
	for i := 0; i+1 < len(annotations); i += 2 {
		a[annotations[i]] = annotations[i+1]
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.functions[name] = fakeFunction{annotations: a, handler: handler}
}

func (g *gateway) callsTo(fn string) []call {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []call
	for _, c := range g.calls {
		if c.fn == fn {
			out = append(out, c)
		}
	}
	return out
}

// rig is a connector under test in its own vhost, in front of a fake gateway.
type rig struct {
	t   *testing.T
	vh  *brokertest.VHost
	gw  *gateway
	cfg Config
	c   *Connector
	// creds are the gateway's credentials.
	creds Secrets

	sleeps   []time.Duration
	sleepsMu sync.Mutex
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, vh: brokertest.New(t), gw: newGateway(t), creds: Secrets{User: testUser, Password: testPassword}}
	r.cfg = Config{
		GatewayURL: r.gw.srv.URL, AMQPURL: r.vh.URL, Exchange: testExchange, QueuePrefix: "test.",
		DefaultNamespace: "openfaas-fn", RefreshInterval: time.Hour, DefaultConcurrency: 4, MaxAttempts: 3,
		RetryBase: time.Millisecond, RetryCap: 5 * time.Millisecond, RetryAfterCap: time.Minute,
		InvokeTimeout: 5 * time.Second, DeliveryLimit: 5, DrainTimeout: 5 * time.Second,
	}
	return r
}

// start builds and runs the connector until the test ends; fakeSleep records the waits
// between attempts instead of waiting.
func (r *rig) start(fakeSleep bool) *Connector {
	r.t.Helper()
	if err := r.cfg.Validate(); err != nil {
		r.t.Fatal(err)
	}
	lister, err := NewLister(r.cfg.GatewayURL, &http.Client{Timeout: 5 * time.Second}, r.creds, r.cfg.DefaultConcurrency)
	if err != nil {
		r.t.Fatal(err)
	}
	inv, err := NewInvoker(r.cfg.GatewayURL, nil, nil, r.cfg.InvokeTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	log := quiet
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c := New(r.cfg, lister, inv, log, nil)
	if fakeSleep {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			r.sleepsMu.Lock()
			r.sleeps = append(r.sleeps, d)
			r.sleepsMu.Unlock()
			return ctx.Err()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("connector: %v", err)
		}
	})
	r.c = c
	return c
}

// ready waits until n functions have running consumers.
func (r *rig) ready(n int) {
	r.t.Helper()
	waitFor(r.t, "consumers", func() bool { return r.c.functionsRunning() == n })
}

// publish sends messages to the exchange with confirms on a fresh connection; every one
// must be routed. It returns the message ids.
func (r *rig) publish(topic string, bodies ...string) []string {
	r.t.Helper()
	conn, err := amqp.Dial(r.vh.URL)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close()
	pub, err := broker.NewPublisher(conn, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	ids := make([]string, len(bodies))
	msgs := make([]broker.Message, len(bodies))
	for i, b := range bodies {
		ids[i] = uuid.NewString()
		msgs[i] = broker.Message{
			Exchange: testExchange, RoutingKey: topic, MessageID: ids[i], Type: topic, CorrelationID: "order-1", Body: []byte(b),
			Headers: amqp.Table{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		}
	}
	for i, err := range pub.Publish(context.Background(), msgs...) {
		if err != nil {
			r.t.Fatalf("publish %d: %v", i, err)
		}
	}
	return ids
}

func (r *rig) dlq(fn string) []DeadLetter {
	r.t.Helper()
	conn := r.vh.Dial(r.t)
	defer conn.Close()
	dls, err := ListDLQ(context.Background(), conn, r.cfg, Function{Name: fn, Namespace: "openfaas-fn"})
	if err != nil {
		r.t.Fatal(err)
	}
	return dls
}

// queueDepth is the number of ready messages in a queue (-1 when it does not exist).
func (r *rig) queueDepth(name string) int {
	r.t.Helper()
	conn := r.vh.Dial(r.t)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		r.t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if err != nil {
		return -1
	}
	return q.Messages
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
