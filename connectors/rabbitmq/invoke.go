package rabbitmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/shared/broker"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// RequestHook prepares each invocation request before it is sent, for example to add a
// service token (Authorization) for the function. An error fails the attempt (it is retried).
type RequestHook func(req *http.Request) error

// Invoker calls functions through the gateway.
type Invoker struct {
	gateway *url.URL
	// Client sends the requests; its Transport is the place for a RoundTripper that signs or
	// observes every invocation.
	client *http.Client
	// hook, when set, runs on each request (see RequestHook).
	hook    RequestHook
	timeout time.Duration
}

// NewInvoker returns an Invoker for gatewayURL. client may be nil (a plain client); hook may
// be nil.
func NewInvoker(gatewayURL string, client *http.Client, hook RequestHook, timeout time.Duration) (*Invoker, error) {
	u, err := url.Parse(gatewayURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("gateway url %q: not an absolute url", gatewayURL)
	}
	if client == nil {
		client = &http.Client{}
	}
	return &Invoker{gateway: u, client: client, hook: hook, timeout: timeout}, nil
}

// Result is what one invocation came to.
type Result struct {
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// RetryAfter is the answer's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Err is why no answer came (timeout, refused connection, ...).
	Err error
	// Duration of the call.
	Duration time.Duration
}

// verdict is what to do with a delivery after a result.
type verdict int

const (
	ack        verdict = iota // 2xx: done
	retry                     // 5xx, 429, 408, no answer: try again, later
	deadLetter                // any other status: the message is at fault
)

func (r Result) verdict() verdict {
	switch {
	case r.Err != nil:
		return retry
	case r.Status >= 200 && r.Status < 300:
		return ack
	case r.Status >= 500, r.Status == http.StatusTooManyRequests, r.Status == http.StatusRequestTimeout:
		return retry
	default:
		return deadLetter
	}
}

// Topic is the routing key a delivery was first published with: kept through dead-lettering
// (x-death) and replay (x-original-routing-key).
func Topic(d amqp.Delivery) string {
	if k, ok := d.Headers[HeaderOriginalRoutingKey].(string); ok && k != "" {
		return k
	}
	if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		if first, ok := deaths[len(deaths)-1].(amqp.Table); ok {
			if keys, ok := first["routing-keys"].([]any); ok && len(keys) > 0 {
				if k, ok := keys[0].(string); ok {
					return k
				}
			}
		}
	}
	return d.RoutingKey
}

// HeaderOriginalRoutingKey carries a replayed message's first routing key.
const HeaderOriginalRoutingKey = "x-original-routing-key"

// Invoke posts the delivery's body to the function with X-Topic, X-Message-Id, X-Call-Id and
// the trace context headers, and reads (and discards) the answer.
func (i *Invoker) Invoke(ctx context.Context, f Function, d amqp.Delivery, callID string, attempt int) (out Result) {
	ctx, cancel := context.WithTimeout(ctx, i.timeout)
	defer cancel()
	u := i.gateway.JoinPath("function", f.Path())
	ctx, span := telemetry.Tracer().Start(ctx, "invoke "+f.Path(), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.FaaSInvokedName(f.Path()), semconv.HTTPRequestMethodPost, semconv.URLFull(u.String()),
			semconv.HTTPRequestResendCount(attempt-1), semconv.FaaSInvocationID(callID)))
	defer func() {
		switch {
		case out.Err != nil:
			span.RecordError(out.Err)
			span.SetStatus(codes.Error, "no answer")
		case out.Status >= 400:
			span.SetStatus(codes.Error, http.StatusText(out.Status))
		}
		if out.Status != 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(out.Status))
		}
		span.End()
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(d.Body))
	if err != nil {
		return Result{Err: fmt.Errorf("build request: %w", err)}
	}
	ct := d.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "faas-commerce-rabbitmq-connector")
	req.Header.Set("X-Connector", "faas-commerce-rabbitmq-connector")
	req.Header.Set("X-Topic", Topic(d))
	req.Header.Set("X-Message-Id", d.MessageId)
	req.Header.Set("X-Call-Id", callID)
	req.Header.Set("X-Delivery-Attempt", strconv.Itoa(attempt))
	if d.CorrelationId != "" {
		req.Header.Set("X-Correlation-Id", d.CorrelationId)
	}
	// The message's trace context, replaced by this attempt's span when one is recorded or the
	// context carries one (so the function's span is the invocation's child).
	for k, v := range broker.TraceHeaders(d.Headers) {
		req.Header.Set(k, v)
	}
	telemetry.ToHeaders(ctx, req.Header)
	if i.hook != nil {
		if err := i.hook(req); err != nil {
			return Result{Err: fmt.Errorf("request hook: %w", err)}
		}
	}
	start := time.Now()
	res, err := i.client.Do(req)
	if err != nil {
		return Result{Err: err, Duration: time.Since(start)}
	}
	// Read a bounded amount so the connection is reused; the body itself is not kept.
	_, copyErr := io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	closeErr := res.Body.Close()
	r := Result{Status: res.StatusCode, RetryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now()), Duration: time.Since(start)}
	if r.verdict() == ack {
		// A 2xx whose body broke off is still an answer: the function did its work.
		return r
	}
	if e := errors.Join(copyErr, closeErr); e != nil && r.Status == 0 {
		r.Err = e
	}
	return r
}

// retryAfter parses a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
