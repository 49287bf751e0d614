package pg_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// TestInTxRetriesSerializationFailures runs concurrent read-modify-write transactions at
// SERIALIZABLE: PostgreSQL aborts some with 40001 and InTx must retry them so that no increment
// is lost.
func TestInTxRetriesSerializationFailures(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, "CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	var tries atomic.Int64
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			errs <- pg.InTx(ctx, db.Pool, pg.TxOptions{Isolation: pgx.Serializable, Attempts: 50}, func(tx pgx.Tx) error {
				tries.Add(1)
				var n int
				if err := tx.QueryRow(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "UPDATE counter SET n = $1", n+1)
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
	}
	var n int
	if err := db.Pool.QueryRow(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != workers {
		t.Fatalf("counter %d after %d increments (%d tries): an increment was lost", n, workers, tries.Load())
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, "CREATE TABLE t (v int)"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := pg.InTx(ctx, db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after rollback: %d, %v", n, err)
	}
}

// TestInTxReturnsCommitError makes the commit itself fail (a deferred constraint) and checks
// that the caller hears of it.
func TestInTxReturnsCommitError(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE u (v int, CONSTRAINT u_v UNIQUE (v) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := pg.InTx(ctx, db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		calls++
		_, err := tx.Exec(ctx, "INSERT INTO u VALUES (1), (1)")
		return err
	})
	if err == nil || !pg.IsUniqueViolation(err, "u_v") {
		t.Fatalf("commit error not returned: %v", err)
	}
	if calls != 1 {
		t.Fatalf("a unique violation was retried %d times", calls)
	}
}
