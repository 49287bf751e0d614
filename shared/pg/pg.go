// Package pg holds the PostgreSQL plumbing every context shares: one pgxpool per process and a
// transaction helper that returns the commit error and retries transient conflicts.
package pg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolConfig tunes a pool; zero values keep pgx's defaults.
type PoolConfig struct {
	// MaxConns caps open connections (a function process needs few).
	MaxConns int32 `env:"PG_MAX_CONNS, default=4"`
	// ConnectTimeout bounds establishing one connection.
	ConnectTimeout time.Duration `env:"PG_CONNECT_TIMEOUT, default=5s"`
}

// Connect returns a pool for url. It does not wait for the server: the first query does, so a
// function can start (and scale from zero) while PostgreSQL is briefly away.
func Connect(ctx context.Context, url string, pc PoolConfig) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error can echo the URL, password included: do not wrap it.
		return nil, errors.New("database url: cannot be parsed")
	}
	if pc.MaxConns > 0 {
		cfg.MaxConns = pc.MaxConns
	}
	if pc.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = pc.ConnectTimeout
	}
	// A span per query, child of the request's span; statements have no values in them, and
	// connection details (the password's neighbours) stay out of the attributes.
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTrimSQLInSpanName(), otelpgx.WithDisableConnectionDetailsInAttributes(), otelpgx.WithDisableAcquireTracer())
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return pool, nil
}

// TxOptions chooses isolation and how often a transient conflict is retried.
type TxOptions struct {
	Isolation pgx.TxIsoLevel
	// Attempts is the total number of tries; 0 means DefaultAttempts.
	Attempts int
}

// DefaultAttempts is how many times InTx tries a transaction that hits serialization failures
// or deadlocks.
const DefaultAttempts = 5

// Beginner is what InTx needs: a pool or a connection.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// InTx runs fn in a transaction and commits it, returning fn's error or the commit's. A
// serialization failure (40001) or deadlock (40P01), from fn or from the commit, rolls back and
// runs fn again, up to opts.Attempts times with jittered backoff; fn must therefore have no
// effects outside the transaction.
func InTx(ctx context.Context, db Beginner, opts TxOptions, fn func(pgx.Tx) error) error {
	attempts := opts.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var err error
	for try := 1; ; try++ {
		err = runTx(ctx, db, opts, fn)
		if err == nil || !Retryable(err) || try >= attempts {
			break
		}
		backoff := time.Duration(try*try) * 5 * time.Millisecond
		backoff += rand.N(backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
	return err
}

func runTx(ctx context.Context, db Beginner, opts TxOptions, fn func(pgx.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: opts.Isolation})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// The transaction is already failed or the connection gone; the original error matters.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Retryable reports whether err is a transient conflict that a fresh transaction may not hit.
func Retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Unavailable reports whether err says the database could not be reached or went away (refused,
// starting up or shutting down, connection lost or cut mid-answer): not the request's fault,
// and the same request may succeed shortly. Callers answer 503 with Retry-After, not 500.
func Unavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P: admin/crash shutdown, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	var ne net.Error
	return errors.As(err, &ne) && !ne.Timeout()
}

// IsUniqueViolation reports whether err is a unique violation, on constraint when it is not "".
func IsUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}

// IsCheckViolation reports whether err violates a CHECK constraint, on constraint when it is not "".
func IsCheckViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && (constraint == "" || pe.ConstraintName == constraint)
}

// Secrets are the pool's secret files.
type Secrets struct {
	// DatabaseURL is the PostgreSQL URL, password included, from the secret file database-url.
	DatabaseURL string `env:"database_url, required"`
}
