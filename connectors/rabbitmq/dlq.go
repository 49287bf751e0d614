package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/shared/broker"
)

// DeadLetter is one message in a function's dead-letter queue.
type DeadLetter struct {
	Function      string    `json:"function"`
	MessageID     string    `json:"message_id"`
	Type          string    `json:"type,omitempty"`
	Topic         string    `json:"topic"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	Reason        string    `json:"reason,omitempty"` // rejected, delivery_limit, ...
	DeadAt        time.Time `json:"dead_at,omitzero"`
	Bytes         int       `json:"bytes"`
}

// ErrNoDLQ means the function has no dead-letter queue (the connector never set it up).
var ErrNoDLQ = errors.New("no dead-letter queue")

// ListDLQ returns the messages in f's dead-letter queue, leaving them there.
func ListDLQ(ctx context.Context, conn *amqp.Connection, cfg Config, f Function) ([]DeadLetter, error) {
	var out []DeadLetter
	err := scanDLQ(ctx, conn, cfg, f, func(d amqp.Delivery) (bool, error) {
		out = append(out, describe(f, d))
		return false, nil
	})
	return out, err
}

// ReplayDLQ moves messages from f's dead-letter queue back to f's own queue (not to the
// exchange, which would deliver them to every subscriber again): those with messageID, or
// all when messageID is "". Each is published with confirms before it leaves the DLQ, so a
// crash midway can duplicate a message (consumers dedupe by event id) but never lose one.
// It returns how many it moved.
func ReplayDLQ(ctx context.Context, conn *amqp.Connection, cfg Config, f Function, messageID string) (int, error) {
	pub, err := broker.NewPublisher(conn, 1)
	if err != nil {
		return 0, err
	}
	defer pub.Close() //nolint:errcheck // the connection closes right after
	moved := 0
	err = scanDLQ(ctx, conn, cfg, f, func(d amqp.Delivery) (bool, error) {
		if messageID != "" && d.MessageId != messageID {
			return false, nil
		}
		headers := amqp.Table{}
		for k, v := range d.Headers {
			switch k {
			case "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
				"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count":
			default:
				headers[k] = v
			}
		}
		headers[HeaderOriginalRoutingKey] = Topic(d)
		replays, _ := d.Headers["x-replays"].(int64)
		headers["x-replays"] = replays + 1
		m := broker.Message{
			Exchange: "", RoutingKey: cfg.Queue(f), MessageID: d.MessageId, Type: d.Type, CorrelationID: d.CorrelationId,
			ContentType: d.ContentType, Timestamp: d.Timestamp, Headers: headers, Body: d.Body,
		}
		if err := pub.Publish(ctx, m)[0]; err != nil {
			return false, fmt.Errorf("republish %s: %w", d.MessageId, err)
		}
		moved++
		return true, nil
	})
	return moved, err
}

// scanDLQ gets every message in f's DLQ once; visit says whether to remove it (ack). The rest
// return to the DLQ when the channel closes.
func scanDLQ(ctx context.Context, conn *amqp.Connection, cfg Config, f Function, visit func(amqp.Delivery) (bool, error)) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close() //nolint:errcheck // closing returns the unacked messages; nothing else to do
	if _, err := ch.QueueDeclarePassive(cfg.DLQ(f), true, false, false, false, nil); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.NotFound {
			return fmt.Errorf("%s: %w", cfg.DLQ(f), ErrNoDLQ)
		}
		return fmt.Errorf("inspect %s: %w", cfg.DLQ(f), err)
	}
	// Until the queue has nothing ready: the gets hold what they took until the channel closes,
	// so none is seen twice, and messages another channel is still handing back are waited for
	// only as long as they arrive before the queue runs dry.
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, ok, err := ch.Get(cfg.DLQ(f), false)
		if err != nil {
			return fmt.Errorf("get from %s: %w", cfg.DLQ(f), err)
		}
		if !ok {
			return nil
		}
		remove, err := visit(d)
		if err != nil {
			return err
		}
		if remove {
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("remove %s from %s: %w", d.MessageId, cfg.DLQ(f), err)
			}
		}
	}
}

func describe(f Function, d amqp.Delivery) DeadLetter {
	dl := DeadLetter{
		Function: f.Path(), MessageID: d.MessageId, Type: d.Type, Topic: Topic(d),
		CorrelationID: d.CorrelationId, Bytes: len(d.Body),
	}
	if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		if last, ok := deaths[0].(amqp.Table); ok {
			dl.Reason, _ = last["reason"].(string)
			dl.DeadAt, _ = last["time"].(time.Time)
		}
	}
	return dl
}
