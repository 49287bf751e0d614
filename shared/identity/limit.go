package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

// ErrRateLimited: too many failed attempts for this e-mail, client or address; see
// RateLimited.RetryAfter.
var ErrRateLimited = fault.New(fault.TooManyRequests, "too_many_attempts", "too many failed attempts; try again later")

// RateLimited is the error Reserve returns when a limit is reached.
type RateLimited struct {
	// RetryAfter is how long until the window that hit its limit ends.
	RetryAfter time.Duration
}

func (e *RateLimited) Error() string { return fmt.Sprintf("rate limited for %s", e.RetryAfter) }

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimited) Is(target error) bool { return target == ErrRateLimited }

// Unwrap gives fault.As the classified error.
func (e *RateLimited) Unwrap() error { return ErrRateLimited }

// Limit is at most Max attempts per key in a fixed Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Key is one counter and its limit.
type Key struct {
	Name  string
	Limit Limit
}

// EmailKey is the counter of an e-mail address; only a digest of the lower-cased address is stored.
func EmailKey(email string, l Limit) Key {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return Key{Name: "email:" + hex.EncodeToString(sum[:]), Limit: l}
}

// IPKey is the counter of a caller's address.
func IPKey(ip string, l Limit) Key { return Key{Name: "ip:" + ip, Limit: l} }

// ClientKey is the counter of an OAuth2 client id.
func ClientKey(id string, l Limit) Key {
	sum := sha256.Sum256([]byte(id))
	return Key{Name: "client:" + hex.EncodeToString(sum[:]), Limit: l}
}

// Limiter counts attempts in PostgreSQL, so a limit holds across every replica of a function.
// Each attempt is reserved before the secret is checked (burst-safe: the counter is taken with
// one atomic upsert, so concurrent attempts cannot all slip under the limit) and released when
// it succeeds, so only failures use up the limit. Time is the database's clock.
type Limiter struct {
	db *pgxpool.Pool
}

// NewLimiter returns a Limiter on db.
func NewLimiter(db *pgxpool.Pool) *Limiter { return &Limiter{db: db} }

// Reserve counts one attempt against every key and returns a *RateLimited error (errors.Is
// ErrRateLimited) when any of them is over its limit.
func (l *Limiter) Reserve(ctx context.Context, keys ...Key) error {
	var worst time.Duration
	limited := false
	for _, k := range keys {
		var (
			n    int
			left float64
		)
		err := l.db.QueryRow(ctx, `INSERT INTO identity.failed_attempts AS f (key, window_start, failures)
			VALUES ($1, now(), 1)
			ON CONFLICT (key) DO UPDATE SET
				window_start = CASE WHEN f.window_start <= now() - make_interval(secs => $2) THEN now() ELSE f.window_start END,
				failures = CASE WHEN f.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE f.failures + 1 END
			RETURNING failures, extract(epoch FROM window_start + make_interval(secs => $2) - now())::float8`,
			k.Name, k.Limit.Window.Seconds()).Scan(&n, &left)
		if err != nil {
			return fmt.Errorf("count attempt: %w", err)
		}
		if n > k.Limit.Max {
			limited = true
			worst = max(worst, time.Duration(math.Ceil(left))*time.Second)
		}
	}
	if limited {
		return &RateLimited{RetryAfter: max(worst, time.Second)}
	}
	return nil
}

// Release gives back the attempt Reserve counted against each key (after a success), and
// clears the counters named in clear (the e-mail's, so a customer who got in starts afresh).
func (l *Limiter) Release(ctx context.Context, keys []Key, clear ...Key) error {
	for _, k := range keys {
		if _, err := l.db.Exec(ctx, "UPDATE identity.failed_attempts SET failures = failures - 1 WHERE key = $1 AND failures > 1", k.Name); err != nil {
			return fmt.Errorf("release attempt: %w", err)
		}
	}
	for _, k := range clear {
		if _, err := l.db.Exec(ctx, "DELETE FROM identity.failed_attempts WHERE key = $1", k.Name); err != nil {
			return fmt.Errorf("clear attempts: %w", err)
		}
	}
	return nil
}

// Prune deletes counters whose window ended more than olderThan ago.
func (l *Limiter) Prune(ctx context.Context, olderThan time.Duration) error {
	if _, err := l.db.Exec(ctx, "DELETE FROM identity.failed_attempts WHERE window_start < now() - make_interval(secs => $1)", olderThan.Seconds()); err != nil {
		return fmt.Errorf("prune attempts: %w", err)
	}
	return nil
}
