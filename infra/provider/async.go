package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/faas-commerce/faas-commerce/infra/amqpqueue"
	amqp "github.com/rabbitmq/amqp091-go"
)

// asyncCall is an invocation kept in RabbitMQ until it is done.
type asyncCall struct {
	CallID      string      `json:"callId"`
	Function    string      `json:"function"`
	Method      string      `json:"method"`
	Path        string      `json:"path"`
	RawQuery    string      `json:"rawQuery,omitempty"`
	Header      http.Header `json:"header"`
	Body        []byte      `json:"body,omitempty"`
	CallbackURL string      `json:"callbackUrl,omitempty"`
}

type asyncQueue struct {
	p *Provider
	q *amqpqueue.Queue // nil when async invocation is off
}

func newAsyncQueue(p *Provider) *asyncQueue {
	a := &asyncQueue{p: p}
	if p.cfg.Async.AMQPURL != "" {
		a.q = amqpqueue.New(amqpqueue.Config{
			URL: p.cfg.Async.AMQPURL, Exchange: p.cfg.Async.Exchange, Queue: p.cfg.Async.Queue,
			Prefetch: p.cfg.Async.Concurrency, Consume: p.cfg.Async.Consume,
		}, p.log)
	}
	return a
}

func (a *asyncQueue) run(ctx context.Context) {
	if a.q != nil {
		a.q.Run(ctx, a.handle)
	}
}

// AsyncConnected is closed once the async queue is connected to RabbitMQ.
func (p *Provider) AsyncConnected() <-chan struct{} {
	if p.async.q == nil {
		return nil
	}
	return p.async.q.Connected()
}

// invokeAsync answers POST /async-function/NAME[/path] with 202 and X-Call-Id once RabbitMQ
// has confirmed the call.
func (p *Provider) invokeAsync(w http.ResponseWriter, r *http.Request) {
	name := trimNamespace(r.PathValue("name"))
	f, ok := p.lookup(name)
	if !ok {
		writeError(w, http.StatusNotFound, "function %s not found", name)
		return
	}
	if !p.admit(w, r, f) {
		return
	}
	if p.async.q == nil {
		writeError(w, http.StatusServiceUnavailable, "async invocation is off (ASYNC_AMQP_URL is empty)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request body for %s too large", name)
		return
	}
	header := r.Header.Clone()
	stampCall(header, r, time.Now())
	c := asyncCall{
		CallID: header.Get("X-Call-Id"), Function: name, Method: http.MethodPost, Path: "/" + r.PathValue("path"),
		RawQuery: r.URL.RawQuery, Header: header, Body: body, CallbackURL: header.Get("X-Callback-Url"),
	}
	msg, err := json.Marshal(c)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not queue the call")
		return
	}
	err = p.async.q.Publish(r.Context(), amqp.Publishing{
		ContentType: "application/json", MessageId: c.CallID, Timestamp: time.Now(), Body: msg,
		Headers: amqp.Table{"x-function": name},
	})
	if err != nil {
		p.log.Warn("queue async call", "function", name, "call_id", c.CallID, "error", err)
		writeError(w, http.StatusServiceUnavailable, "could not queue the call to %s: the async queue is unavailable", name)
		return
	}
	p.metrics.async.WithLabelValues(name+"."+Namespace, "queued").Inc()
	w.Header().Set("X-Call-Id", c.CallID)
	w.WriteHeader(http.StatusAccepted)
}

// handle invokes one queued call with bounded retries on 5xx and 429, posts the result to its
// callback URL and only then acks. A call interrupted by shutdown stays in the queue.
func (a *asyncQueue) handle(ctx context.Context, d amqp.Delivery) {
	p := a.p
	var c asyncCall
	if err := json.Unmarshal(d.Body, &c); err != nil {
		p.log.Error("drop malformed async call", "message_id", d.MessageId, "error", err)
		_ = d.Reject(false)
		return
	}
	log := p.log.With("function", c.Function, "call_id", c.CallID)
	start := time.Now()
	status, header, body := a.invokeWithRetries(ctx, c)
	if ctx.Err() != nil {
		_ = d.Nack(false, true)
		return
	}
	outcome := "done"
	if status >= 400 || status == 0 {
		outcome = "failed"
	}
	p.metrics.async.WithLabelValues(c.Function+"."+Namespace, outcome).Inc()
	if c.CallbackURL != "" {
		if err := a.callback(ctx, c, status, header, body, time.Since(start)); err != nil {
			log.Warn("async callback failed", "error", err)
		}
	}
	if err := d.Ack(false); err != nil {
		log.Warn("ack async call", "error", err)
	}
}

func (a *asyncQueue) invokeWithRetries(ctx context.Context, c asyncCall) (int, http.Header, []byte) {
	p := a.p
	wait := p.cfg.Async.RetryBackoff
	for attempt := 1; ; attempt++ {
		status, header, body := a.invokeOnce(ctx, c)
		retry := status == 0 || status >= 500 || status == http.StatusTooManyRequests
		if !retry || attempt >= p.cfg.Async.MaxAttempts || ctx.Err() != nil {
			return status, header, body
		}
		p.metrics.async.WithLabelValues(c.Function+"."+Namespace, "retried").Inc()
		p.log.Info("retrying async call", "function", c.Function, "call_id", c.CallID, "status", status, "attempt", attempt)
		select {
		case <-ctx.Done():
			return status, header, body
		case <-time.After(wait):
		}
		wait = min(2*wait, p.cfg.Async.RetryBackoffMax)
	}
}

// invokeOnce calls the function; status 0 means it could not be reached.
func (a *asyncQueue) invokeOnce(ctx context.Context, c asyncCall) (int, http.Header, []byte) {
	p := a.p
	f, ok := p.lookup(c.Function)
	if !ok {
		return http.StatusNotFound, http.Header{}, []byte(`{"error":"function ` + c.Function + ` not found"}`)
	}
	start := time.Now()
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.UpstreamTimeout)
	defer cancel()
	header := c.Header.Clone()
	header.Set("X-Start-Time", strconv.FormatInt(start.UTC().UnixNano(), 10))
	resp, err := p.invokeFn(callCtx, f, call{method: c.Method, path: c.Path, rawQuery: c.RawQuery, header: header, body: c.Body})
	if err != nil {
		code := p.invokeErrorStatus(c.Function, err)
		p.observe(f, code, start)
		if errors.Is(err, errNoReplica) || errors.Is(err, context.DeadlineExceeded) {
			return code, http.Header{}, nil
		}
		return 0, http.Header{}, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxBodyBytes))
	p.observe(f, resp.StatusCode, start)
	if err != nil {
		return 0, http.Header{}, nil
	}
	return resp.StatusCode, resp.Header, body
}

// callback posts the result to X-Callback-Url, trying up to three times.
func (a *asyncQueue) callback(ctx context.Context, c asyncCall, status int, header http.Header, body []byte, took time.Duration) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * a.p.cfg.Async.RetryBackoff):
			}
		}
		if err = a.postCallback(ctx, c, status, header, body, took); err == nil {
			return nil
		}
	}
	return err
}

func (a *asyncQueue) postCallback(ctx context.Context, c asyncCall, status int, header http.Header, body []byte, took time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, a.p.cfg.Async.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ct := header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("X-Call-Id", c.CallID)
	req.Header.Set("X-Function-Name", c.Function)
	req.Header.Set("X-Function-Status", strconv.Itoa(status))
	req.Header.Set("X-Duration-Seconds", strconv.FormatFloat(took.Seconds(), 'f', 6, 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return errors.New("callback answered " + resp.Status)
	}
	return nil
}
