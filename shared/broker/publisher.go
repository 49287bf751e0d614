package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/shared/events"
)

// Errors of a publish. ErrReturned and ErrNacked are the broker's verdict on one message;
// ErrChannelClosed means the channel (or connection) went away before the verdict, so the
// message may or may not have been routed.
var (
	ErrReturned      = errors.New("rabbitmq returned the message as unroutable")
	ErrNacked        = errors.New("rabbitmq nacked the message")
	ErrChannelClosed = errors.New("rabbitmq channel closed before the confirm")
)

// ReturnedError is a mandatory message that no queue was bound to receive.
type ReturnedError struct {
	// Code and Text are the broker's reply (312 NO_ROUTE).
	Code uint16
	Text string
	// Exchange and RoutingKey the message was published with.
	Exchange, RoutingKey string
}

func (e *ReturnedError) Error() string {
	return fmt.Sprintf("unroutable: %d %s (exchange %q, routing key %q)", e.Code, e.Text, e.Exchange, e.RoutingKey)
}

// Unwrap makes errors.Is(err, ErrReturned) true.
func (e *ReturnedError) Unwrap() error { return ErrReturned }

// Message is one message to publish. It is always persistent and mandatory.
type Message struct {
	// Exchange and RoutingKey route the message ("" exchange = the default exchange, where
	// the routing key is a queue name).
	Exchange, RoutingKey string
	// MessageID identifies the message (the event id); returns are matched by it, so it must
	// be unique within one Publish call.
	MessageID string
	// Type is the AMQP type property (the event type).
	Type string
	// CorrelationID is the AMQP correlation-id property.
	CorrelationID string
	// ContentType defaults to application/json.
	ContentType string
	// Timestamp is the AMQP timestamp property, when not zero.
	Timestamp time.Time
	// Headers are AMQP headers (trace context travels here).
	Headers amqp.Table
	// Body is the payload.
	Body []byte
}

// Trace context keys copied between an event's trace_context and AMQP headers.
var traceKeys = []string{"traceparent", "tracestate", "baggage"}

// EnvelopeMessage makes the message for an event envelope (JSON as stored in the outbox):
// routing key, message id, type and correlation id from the event, and the trace context of
// its trace_context in the traceparent/tracestate/baggage headers.
func EnvelopeMessage(exchange string, envelope []byte) (Message, error) {
	var e struct {
		ID            string            `json:"id"`
		Type          string            `json:"type"`
		OccurredAt    time.Time         `json:"occurred_at"`
		CorrelationID string            `json:"correlation_id"`
		TraceContext  map[string]string `json:"trace_context"`
	}
	if err := json.Unmarshal(envelope, &e); err != nil {
		return Message{}, fmt.Errorf("%w: %v", events.ErrInvalid, err)
	}
	if e.ID == "" || e.Type == "" {
		return Message{}, fmt.Errorf("%w: no id or type", events.ErrInvalid)
	}
	m := Message{
		Exchange: exchange, RoutingKey: e.Type, MessageID: e.ID, Type: e.Type,
		CorrelationID: e.CorrelationID, ContentType: "application/json", Timestamp: e.OccurredAt, Body: envelope,
	}
	for _, k := range traceKeys {
		if v := e.TraceContext[k]; v != "" {
			if m.Headers == nil {
				m.Headers = amqp.Table{}
			}
			m.Headers[k] = v
		}
	}
	return m, nil
}

// TraceHeaders returns the trace context of an AMQP message's headers (for an outgoing HTTP
// request or a telemetry.FromMap).
func TraceHeaders(h amqp.Table) map[string]string {
	var out map[string]string
	for _, k := range traceKeys {
		if v, ok := h[k].(string); ok && v != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// Publisher publishes on one confirm-mode channel. It is safe for concurrent use; calls are
// serialised so that each return is matched to its own call.
type Publisher struct {
	ch       *amqp.Channel
	returns  chan amqp.Return
	inFlight int

	mu sync.Mutex
}

// DefaultInFlight is how many confirms a Publisher keeps outstanding at once by default.
const DefaultInFlight = 256

// NewPublisher opens a channel on conn in confirm mode. inFlight bounds outstanding confirms
// (0 means DefaultInFlight); larger batches are published in chunks of that size.
func NewPublisher(conn *amqp.Connection, inFlight int) (*Publisher, error) {
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close() // the channel is unusable either way; the confirm error matters
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	// A return arrives before the confirm of its message, and amqp091 gives up on a listener
	// that stays full for 5s; the buffer holds every return of a chunk, and each chunk's
	// returns are drained once its confirms are in, so it never fills.
	p := &Publisher{ch: ch, returns: ch.NotifyReturn(make(chan amqp.Return, inFlight)), inFlight: inFlight}
	return p, nil
}

// Channel is the publisher's channel (for declaring topology on it).
func (p *Publisher) Channel() *amqp.Channel { return p.ch }

// Close closes the channel.
func (p *Publisher) Close() error {
	if err := p.ch.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("close channel: %w", err)
	}
	return nil
}

// Publish publishes msgs in order, keeping up to the in-flight bound of confirms outstanding,
// and returns one result per message: nil when the broker confirmed it and did not return it,
// an error wrapping ErrReturned, ErrNacked or ErrChannelClosed otherwise (or ctx's error).
func (p *Publisher) Publish(ctx context.Context, msgs ...Message) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	results := make([]error, len(msgs))
	for start := 0; start < len(msgs); start += p.inFlight {
		end := min(start+p.inFlight, len(msgs))
		if err := p.chunk(ctx, msgs[start:end], results[start:end]); err != nil {
			for i := end; i < len(msgs); i++ {
				results[i] = err
			}
			break
		}
	}
	return results
}

// chunk publishes msgs and waits for their confirms; it returns an error when the channel is
// no longer usable for the next chunk.
func (p *Publisher) chunk(ctx context.Context, msgs []Message, results []error) error {
	confirms := make([]*amqp.DeferredConfirmation, len(msgs))
	var fatal error
	for i, m := range msgs {
		if fatal != nil {
			results[i] = fatal
			continue
		}
		ct := m.ContentType
		if ct == "" {
			ct = "application/json"
		}
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, m.Exchange, m.RoutingKey, true, false, amqp.Publishing{
			Headers: m.Headers, ContentType: ct, DeliveryMode: amqp.Persistent, CorrelationId: m.CorrelationID,
			MessageId: m.MessageID, Timestamp: m.Timestamp, Type: m.Type, Body: m.Body,
		})
		if err != nil {
			if ctx.Err() != nil {
				fatal = ctx.Err()
			} else {
				fatal = fmt.Errorf("%w: publish: %v", ErrChannelClosed, err)
			}
			results[i] = fatal
			continue
		}
		confirms[i] = dc
	}
	for i, dc := range confirms {
		if dc == nil {
			continue
		}
		ack, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			results[i] = err
			fatal = err
		case !ack && p.ch.IsClosed():
			results[i] = ErrChannelClosed
			fatal = ErrChannelClosed
		case !ack:
			results[i] = ErrNacked
		}
	}
	// Every return of this chunk was handed over before its confirm, so it is in the buffer.
	byID := make(map[string]int, len(msgs))
	for i, m := range msgs {
		byID[m.MessageID] = i
	}
drain:
	for {
		select {
		case r, ok := <-p.returns:
			if !ok {
				break drain
			}
			if i, found := byID[r.MessageId]; found && results[i] == nil {
				results[i] = &ReturnedError{Code: r.ReplyCode, Text: r.ReplyText, Exchange: r.Exchange, RoutingKey: r.RoutingKey}
			}
		default:
			break drain
		}
	}
	return fatal
}
