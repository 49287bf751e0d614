package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/connectors/rabbitmq"
	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/broker/brokertest"
)

func TestDLQListAndReplayCommands(t *testing.T) {
	vh := brokertest.New(t)
	t.Setenv("AMQP_URL", vh.URL)
	t.Setenv("QUEUE_PREFIX", "cmd.")
	t.Setenv("SECRETS_DIR", t.TempDir()) // no gateway credentials
	t.Setenv("GATEWAY_URL", "http://127.0.0.1:1")

	// A function queue with its DLQ, as the connector declares them, and one dead letter.
	ch := vh.Channel(t)
	cfg := rabbitmq.Config{QueuePrefix: "cmd.", DefaultNamespace: "openfaas-fn", DeliveryLimit: 3}
	f := rabbitmq.Function{Name: "charge", Namespace: "openfaas-fn"}
	if err := broker.DeclareDirectExchange(ch, cfg.DLX()); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.DeclareQueue(ch, broker.QueueSpec{Name: cfg.DLQ(f)}); err != nil {
		t.Fatal(err)
	}
	if err := broker.Bind(ch, cfg.DLQ(f), cfg.DLX(), cfg.Queue(f)); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.DeclareQueue(ch, broker.QueueSpec{Name: cfg.Queue(f), DeadLetterExchange: cfg.DLX(), DeadLetterRoutingKey: cfg.Queue(f), DeliveryLimit: 3}); err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(context.Background(), "", cfg.Queue(f), false, false, amqp.Publishing{MessageId: "m-1", Type: "stock.reserved", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var d amqp.Delivery
	for ok := false; !ok; {
		var err error
		if d, ok, err = ch.Get(cfg.Queue(f), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Reject(false); err != nil { // dead-letters it
		t.Fatal(err)
	}

	var out bytes.Buffer
	deadline := time.Now().Add(30 * time.Second)
	for out.Len() == 0 { // dead-lettering is asynchronous
		if time.Now().After(deadline) {
			t.Fatal("the dead letter never showed")
		}
		if err := run(context.Background(), []string{"dlq", "list", "--function", "charge"}, &out); err != nil {
			t.Fatal(err)
		}
	}
	var dl rabbitmq.DeadLetter
	if err := json.Unmarshal(out.Bytes(), &dl); err != nil || dl.MessageID != "m-1" || dl.Function != "charge.openfaas-fn" || dl.Reason != "rejected" {
		t.Fatalf("list printed %q (%v)", out.String(), err)
	}

	out.Reset()
	if err := run(context.Background(), []string{"dlq", "replay", "--function", "charge", "--all"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "moved 1 message(s)") {
		t.Errorf("replay printed %q", out.String())
	}
	q, err := ch.QueueDeclarePassive(cfg.Queue(f), true, false, false, false, nil)
	if err != nil || q.Messages != 1 {
		t.Fatalf("function queue holds %d (%v)", q.Messages, err)
	}
	if err := run(context.Background(), []string{"dlq", "replay", "--function", "charge", "--message-id", "m-1"}, &out); err == nil {
		t.Error("replaying a message that is not in the DLQ should fail")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nope"}, {"dlq"}, {"dlq", "replay", "--function", "f"}, {"dlq", "replay", "--all"},
		{"dlq", "replay", "--function", "f", "--all", "--message-id", "x"}, {"dlq", "list", "--all"}, {"dlq", "purge"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
