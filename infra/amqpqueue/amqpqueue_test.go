package amqpqueue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/infra/amqpqueue"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// dropProxy forwards TCP to RabbitMQ and can cut every connection, as a network failure would.
type dropProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.drop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *dropProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestQueueReconnectsAfterTheConnectionDrops(t *testing.T) {
	proxy := newDropProxy(t, "127.0.0.1:5672")
	suffix := uuid.NewString()[:8]
	cfg := amqpqueue.Config{
		URL:      "amqp://guest:guest@" + proxy.ln.Addr().String() + "/",
		Exchange: "test.amqpqueue." + suffix, Queue: "test.amqpqueue." + suffix,
		Prefetch: 4, Consume: true,
	}
	t.Cleanup(func() {
		if err := amqpqueue.Delete("amqp://guest:guest@127.0.0.1:5672/", cfg.Exchange, cfg.Queue); err != nil {
			t.Errorf("delete test queue: %v", err)
		}
	})
	q := amqpqueue.New(cfg, slog.New(slog.DiscardHandler))
	got := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx, func(_ context.Context, d amqp.Delivery) {
			got <- string(d.Body)
			_ = d.Ack(false)
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	publish := func(body string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			select {
			case <-q.Connected():
			case <-time.After(time.Until(deadline)):
				t.Fatalf("not connected within 20s")
			}
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			err := q.Publish(pctx, amqp.Publishing{Body: []byte(body), MessageId: body})
			pcancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", body, err)
			}
		}
	}
	// at least once: an ack cut off with the connection means a redelivery, which is skipped
	receive := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case b := <-got:
				if b == want {
					return
				}
			case <-deadline:
				t.Fatalf("%s not received", want)
			}
		}
	}

	publish("before")
	receive("before")
	proxy.drop()
	publish("after")
	receive("after")
}

func TestPublishWithoutAConnectionFails(t *testing.T) {
	q := amqpqueue.New(amqpqueue.Config{URL: "amqp://guest:guest@127.0.0.1:1/", Exchange: "x", Queue: "y", Prefetch: 1}, slog.New(slog.DiscardHandler))
	err := q.Publish(context.Background(), amqp.Publishing{Body: []byte("x")})
	if !errors.Is(err, amqpqueue.ErrNotConnected) {
		t.Fatalf("publish while not connected: %v", err)
	}
}
