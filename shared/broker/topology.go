package broker

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeclareTopicExchange declares the durable topic exchange events are published to (routing
// key = event type). Declaring is idempotent; a different existing kind is a channel error.
func DeclareTopicExchange(ch *amqp.Channel, name string) error {
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", name, err)
	}
	return nil
}

// DeclareDirectExchange declares a durable direct exchange (the dead-letter exchange).
func DeclareDirectExchange(ch *amqp.Channel, name string) error {
	if err := ch.ExchangeDeclare(name, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", name, err)
	}
	return nil
}

// QueueSpec describes a durable quorum queue.
type QueueSpec struct {
	// Name of the queue.
	Name string
	// DeadLetterExchange and DeadLetterRoutingKey, when set, receive messages that are
	// rejected without requeue or that reach DeliveryLimit.
	DeadLetterExchange, DeadLetterRoutingKey string
	// DeliveryLimit, when above zero, dead-letters a message after that many returns to the
	// queue (a nack or reject with requeue, or a consumer that went away holding it).
	DeliveryLimit int
}

// Args are the queue's declaration arguments. Declaring an existing queue with other
// arguments fails with PRECONDITION_FAILED, so these must stay stable for a given name.
func (q QueueSpec) Args() amqp.Table {
	args := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
	if q.DeadLetterExchange != "" {
		// At-least-once dead-lettering (RabbitMQ 3.10+): the message stays in this queue until
		// the dead-letter queue has confirmed it, instead of the default at-most-once. It
		// requires the reject-publish overflow behaviour.
		args["x-dead-letter-strategy"] = "at-least-once"
		args[amqp.QueueOverflowArg] = amqp.QueueOverflowRejectPublish
		args["x-dead-letter-exchange"] = q.DeadLetterExchange
		if q.DeadLetterRoutingKey != "" {
			args["x-dead-letter-routing-key"] = q.DeadLetterRoutingKey
		}
	}
	if q.DeliveryLimit > 0 {
		args["x-delivery-limit"] = int64(q.DeliveryLimit)
	}
	return args
}

// DeclareQueue declares q and returns its message count.
func DeclareQueue(ch *amqp.Channel, q QueueSpec) (int, error) {
	st, err := ch.QueueDeclare(q.Name, true, false, false, false, q.Args())
	if err != nil {
		return 0, fmt.Errorf("declare queue %s: %w", q.Name, err)
	}
	return st.Messages, nil
}

// Bind binds queue to exchange with each routing key.
func Bind(ch *amqp.Channel, queue, exchange string, keys ...string) error {
	for _, k := range keys {
		if err := ch.QueueBind(queue, k, exchange, false, nil); err != nil {
			return fmt.Errorf("bind %s to %s with %q: %w", queue, exchange, k, err)
		}
	}
	return nil
}

// Unbind removes queue's bindings to exchange for each routing key.
func Unbind(ch *amqp.Channel, queue, exchange string, keys ...string) error {
	for _, k := range keys {
		if err := ch.QueueUnbind(queue, k, exchange, nil); err != nil {
			return fmt.Errorf("unbind %s from %s with %q: %w", queue, exchange, k, err)
		}
	}
	return nil
}
