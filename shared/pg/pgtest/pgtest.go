// Package pgtest gives each test its own PostgreSQL database, cloned from a template database
// that holds the platform's migrations, and drops it when the test ends. The server is the real
// one on loopback (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/migrations"
)

// AdminURLEnv names the variable holding a superuser URL of the test server.
const AdminURLEnv = "TEST_DATABASE_URL"

const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DB is one test's database.
type DB struct {
	// Name of the database.
	Name string
	// URL connects to it.
	URL string
	// Pool is open for the test's lifetime.
	Pool *pgxpool.Pool
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// New creates a fresh, migrated database for t and drops it when t ends. PostgreSQL is
// required: a missing server fails the test rather than skipping it. In -short mode (the
// image build's unit tests) the test is skipped, since a build has no database.
func New(t testing.TB) *DB {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; run without -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adminURL := AdminURL()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, adminURL) })
	if templateErr != nil {
		t.Fatalf("pgtest: template database: %v", templateErr)
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v (is PostgreSQL running on 127.0.0.1:5432?)", AdminURLEnv, err)
	}
	defer admin.Close(context.Background())

	name := "fc_test_" + randomHex(8)
	if err := createFromTemplate(ctx, admin, name, templateName); err != nil {
		t.Fatalf("pgtest: create %s: %v", name, err)
	}
	cc, err := pgx.ParseConfig(adminURL)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", AdminURLEnv, err)
	}
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cc.User, cc.Host, cc.Port, name)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	db := &DB{Name: name, URL: url, Pool: pool}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return db
}

// AdminURL is the superuser URL tests use to create databases.
func AdminURL() string {
	if u := os.Getenv(AdminURLEnv); u != "" {
		return u
	}
	return defaultAdminURL
}

// ensureTemplate makes sure a migrated template database for the current migrations exists.
// Concurrent test binaries serialise on an advisory lock.
func ensureTemplate(ctx context.Context, adminURL string) (string, error) {
	fp, err := migrations.Fingerprint()
	if err != nil {
		return "", err
	}
	name := "fc_template_" + fp
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect (is PostgreSQL running on 127.0.0.1:5432?): %w", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtext('faas-commerce pgtest template'))"); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(hashtext('faas-commerce pgtest template'))") //nolint:errcheck // the session ends right after
	var ready bool
	err = admin.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&ready)
	if err == nil && ready {
		dropStaleTemplates(ctx, admin, name)
		return name, nil
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	// A half-built template from an interrupted run is rebuilt.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	cc, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return "", err
	}
	cc.Database = name
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return "", err
	}
	if _, err := migrations.Apply(ctx, conn); err != nil {
		conn.Close(ctx)
		return "", err
	}
	if err := conn.Close(ctx); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true"); err != nil {
		return "", err
	}
	dropStaleTemplates(ctx, admin, name)
	return name, nil
}

// dropStaleTemplates removes template databases built from other migrations. One that a test
// is cloning right now cannot be dropped (no FORCE) and stays for a later run to remove.
func dropStaleTemplates(ctx context.Context, admin *pgx.Conn, keep string) {
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'fc\\_template\\_%' AND datname <> $1", keep)
	if err != nil {
		return
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, db := range stale {
		id := pgx.Identifier{db}.Sanitize()
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE false"); err != nil {
			continue
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE "+id); err != nil {
			// In use: put it back as it was, for whoever is cloning it.
			_, _ = admin.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE true") //nolint:errcheck // best effort
		}
	}
}

// createFromTemplate clones the template, retrying while another session briefly holds it.
func createFromTemplate(ctx context.Context, admin *pgx.Conn, name, tmpl string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{tmpl}.Sanitize()
	for {
		_, err := admin.Exec(ctx, sql)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
