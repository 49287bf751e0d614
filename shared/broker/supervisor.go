// Package broker is the RabbitMQ plumbing the platform's long-running programs share: a
// connection supervisor that reconnects by itself (its own loop on NotifyClose, a fresh
// connection and fresh channels each time, with backoff), topology declaration, and a publisher
// that uses publisher confirms, persistent delivery and the mandatory flag, treating a returned
// (unroutable) message as a failure.
//
// amqp091-go's experimental Config.Recovery is deliberately not used: after a reconnect it can
// ack a stale delivery tag on the new channel, which loses a message.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Session uses one connection. It returns when ctx ends (the connection closed or the
// supervisor stops) or when it fails; the supervisor then closes the connection and, unless
// it is stopping, dials a fresh one and runs the session again.
type Session func(ctx context.Context, conn *amqp.Connection) error

// Supervisor keeps a connection to RabbitMQ open and runs a Session on each one.
type Supervisor struct {
	// URL is the AMQP URL; it holds a password, so it is never logged (see Redact).
	URL string
	// Name is shown as the connection name in RabbitMQ's management tools.
	Name string
	// Log receives connect and disconnect events.
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// Heartbeat is the AMQP heartbeat interval (default 10s): a dead peer is noticed within
	// about twice this time.
	Heartbeat time.Duration

	connected atomic.Bool
	dials     atomic.Int64
}

// Connected reports whether a connection is open now.
func (s *Supervisor) Connected() bool { return s.connected.Load() }

// Connections reports how many connections have been opened so far.
func (s *Supervisor) Connections() int64 { return s.dials.Load() }

// stableAfter is how long a session must last for the backoff to start again from the minimum.
const stableAfter = 30 * time.Second

// Run dials and runs session until ctx ends; it returns nil then. Failures to dial, a closed
// connection and session errors are logged and followed by a fresh attempt after a backoff.
func (s *Supervisor) Run(ctx context.Context, session Session) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	minB, maxB := s.MinBackoff, s.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB < minB {
		maxB = max(10*time.Second, minB)
	}
	hb := s.Heartbeat
	if hb <= 0 {
		hb = 10 * time.Second
	}
	where := Redact(s.URL)
	failures := 0
	for ctx.Err() == nil {
		started := time.Now()
		err := s.once(ctx, session, hb)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > stableAfter {
			failures = 0
		}
		failures++
		wait := Backoff(failures, minB, maxB)
		log.WarnContext(ctx, "rabbitmq connection lost; reconnecting", "broker", where, "error", err, "retry_in", wait.String())
		if err := Sleep(ctx, wait); err != nil {
			return nil
		}
	}
	return nil
}

func (s *Supervisor) once(ctx context.Context, session Session, heartbeat time.Duration) error {
	props := amqp.NewConnectionProperties()
	if s.Name != "" {
		props.SetClientConnectionName(s.Name)
	}
	conn, err := amqp.DialConfig(s.URL, amqp.Config{Heartbeat: heartbeat, Properties: props, Locale: "en_US"})
	if err != nil {
		// amqp091's dial errors do not echo the URL's password.
		return fmt.Errorf("dial: %w", err)
	}
	s.dials.Add(1)
	s.connected.Store(true)
	defer s.connected.Store(false)
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- session(sctx, conn) }()

	select {
	case err := <-done:
		if err == nil {
			err = errors.New("session ended")
		}
		return err
	case cerr := <-closed:
		cancel()
		serr := <-done
		if cerr == nil {
			return errors.Join(errors.New("connection closed"), serr)
		}
		return errors.Join(fmt.Errorf("connection closed: %w", cerr), serr)
	case <-ctx.Done():
		<-done
		return ctx.Err()
	}
}

// Backoff is the wait before attempt n (1-based): min doubling to max, with up to 25% jitter
// taken off so that many clients do not retry in step.
func Backoff(n int, minD, maxD time.Duration) time.Duration {
	d := minD
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	if q := int64(d / 4); q > 0 {
		d -= time.Duration(rand.Int64N(q))
	}
	return d
}

// Sleep waits d or until ctx ends, whichever is first; it returns ctx's error in the latter case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Redact returns an AMQP URL fit for logs: scheme, host, port and vhost, never the password.
func Redact(url string) string {
	u, err := amqp.ParseURI(url)
	if err != nil {
		return "(unparsable amqp url)"
	}
	return fmt.Sprintf("%s://%s:%d/%s", u.Scheme, u.Host, u.Port, u.Vhost)
}
