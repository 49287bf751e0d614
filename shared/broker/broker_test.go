package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/broker/brokertest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublishConfirmsAndReturnsUnroutable(t *testing.T) {
	vh := brokertest.New(t)
	conn := vh.Dial(t)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.DeclareTopicExchange(ch, "events"); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.DeclareQueue(ch, broker.QueueSpec{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	if err := broker.Bind(ch, "q", "events", "order.*"); err != nil {
		t.Fatal(err)
	}
	pub, err := broker.NewPublisher(conn, 4) // smaller than the batch: several chunks
	if err != nil {
		t.Fatal(err)
	}
	var msgs []broker.Message
	for i := range 10 {
		key := "order.placed"
		if i%3 == 0 {
			key = "nobody.listens"
		}
		msgs = append(msgs, broker.Message{
			Exchange: "events", RoutingKey: key, MessageID: fmt.Sprint(i), Type: key,
			Headers: amqp.Table{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, Body: []byte(`{}`),
		})
	}
	results := pub.Publish(context.Background(), msgs...)
	for i, err := range results {
		if i%3 == 0 {
			var re *broker.ReturnedError
			if !errors.As(err, &re) || !errors.Is(err, broker.ErrReturned) || re.RoutingKey != "nobody.listens" {
				t.Errorf("message %d: want a return, got %v", i, err)
			}
		} else if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	// The routed ones arrive in order with their properties.
	var got []string
	for range 6 {
		d, ok, err := ch.Get("q", true)
		if err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		if d.DeliveryMode != amqp.Persistent || d.Type != "order.placed" || d.Headers["traceparent"] == nil {
			t.Errorf("delivery properties: %+v", d)
		}
		got = append(got, d.MessageId)
	}
	if fmt.Sprint(got) != "[1 2 4 5 7 8]" {
		t.Errorf("order: %v", got)
	}
}

func TestSupervisorReconnectsWithFreshConnection(t *testing.T) {
	vh := brokertest.New(t)
	s := &broker.Supervisor{URL: vh.URL, Name: "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var sessions atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context, conn *amqp.Connection) error {
			sessions.Add(1)
			<-ctx.Done()
			return nil
		})
	}()
	waitFor(t, "first session", func() bool { return sessions.Load() == 1 && s.Connected() })
	waitFor(t, "connections closed", func() bool { return vh.CloseConnections(t) == 1 })
	waitFor(t, "second session", func() bool { return sessions.Load() == 2 && s.Connected() })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 2 {
		t.Errorf("connections: %d", s.Connections())
	}
}

func TestRedactHidesPassword(t *testing.T) {
	got := broker.Redact("amqp://user:s3cret@example.org:5673/vh")
	if got != "amqp://example.org:5673/vh" {
		t.Errorf("got %q", got)
	}
}
