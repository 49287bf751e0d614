package platform

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/migrations"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// Snapshot is the whole state of the platform's database: every row of every table of the
// contexts' schemas and messaging, as text, sorted, by table.
type Snapshot map[string][]string

// Snapshot reads every table of the platform's schemas in one repeatable-read transaction.
func (p *Platform) Snapshot(t testing.TB) Snapshot {
	t.Helper()
	ctx := context.Background()
	tx, err := p.DB.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	rows, err := tx.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema', 'public') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	s := Snapshot{}
	for _, table := range tables {
		rows, err := tx.Query(ctx, "SELECT t::text FROM "+table+" t ORDER BY 1")
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		s[table], err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
	}
	return s
}

// Diff describes how s and other differ ("" when they are equal), at most a few rows per table.
func (s Snapshot) Diff(other Snapshot) string {
	var b strings.Builder
	var tables []string
	for k := range s {
		tables = append(tables, k)
	}
	for k := range other {
		if _, ok := s[k]; !ok {
			tables = append(tables, k)
		}
	}
	slices.Sort(tables)
	for _, table := range tables {
		a, c := s[table], other[table]
		if slices.Equal(a, c) {
			continue
		}
		fmt.Fprintf(&b, "%s: %d rows before, %d after\n", table, len(a), len(c))
		shown := 0
		for _, r := range a {
			if !slices.Contains(c, r) && shown < 3 {
				fmt.Fprintf(&b, "  - %s\n", r)
				shown++
			}
		}
		for _, r := range c {
			if !slices.Contains(a, r) && shown < 6 {
				fmt.Fprintf(&b, "  + %s\n", r)
				shown++
			}
		}
	}
	return b.String()
}

// XactCommits is pg_stat_database.xact_commit of the platform's database (its statistics
// may lag a running backend by up to a second).
func (p *Platform) XactCommits(t testing.TB) int64 {
	t.Helper()
	var n int64
	// pg_stat_clear_snapshot: a fresh read of the cumulative statistics, not this session's cache.
	if _, err := p.DB.Pool.Exec(context.Background(), "SELECT pg_stat_clear_snapshot()"); err != nil {
		t.Fatal(err)
	}
	if err := p.DB.Pool.QueryRow(context.Background(), "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", p.DB.Name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Env is the environment the process runs with, beyond the test binary's own.
func (pr *Proc) Env() []string { return slices.Clone(pr.env) }

// Command is the program's binary with args, in the process's environment (for its
// subcommands, such as rabbitmq-connector dlq).
func (pr *Proc) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(pr.bin, args...)
	cmd.Env = append(cmd.Environ(), pr.env...)
	return cmd
}

// FunctionPIDs returns the process ids of a function's ready replicas, from the provider's
// status of the function.
func (p *Platform) FunctionPIDs(t testing.TB, name string) []int {
	t.Helper()
	var st struct {
		Instances []struct {
			PID   int  `json:"pid"`
			Ready bool `json:"ready"`
		} `json:"instances"`
		Restarts int64 `json:"restarts"`
	}
	if err := json.Unmarshal(p.system(t, http.MethodGet, "/system/function/"+name, nil), &st); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, in := range st.Instances {
		if in.Ready && in.PID > 0 {
			pids = append(pids, in.PID)
		}
	}
	return pids
}

// PostgresServer is a PostgreSQL server of a test's own (initdb in a temp folder, loopback on
// a free port, trust authentication), for tests that restart the database while other tests
// use the machine's server. It runs as the postgres user, as initdb refuses root.
type PostgresServer struct {
	// URL is the superuser URL of its postgres database.
	URL string

	dir, data string
}

// pgBin is where Debian installs PostgreSQL 15's server programs.
const pgBin = "/usr/lib/postgresql/15/bin"

// StartPostgres initialises and starts a private PostgreSQL server and stops it (and removes
// its files) when t ends.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "fc-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := &PostgresServer{URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), dir: dir, data: filepath.Join(dir, "data")}
	if err := chownTo(dir, "postgres"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.ctl("stop", "-m", "immediate") // a test's server: nothing to keep
		if t.Failed() {
			t.Logf("--- last lines of the private PostgreSQL server ---\n%s", tail(filepath.Join(dir, "server.log")))
		}
		_ = os.RemoveAll(dir) // our own temp folder
	})
	if out, err := s.asPostgres(filepath.Join(pgBin, "initdb"), "-D", s.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = on\nmax_connections = 200\n", port, dir)
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s.ctl("start", "-w", "-t", "60"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	return s
}

func (s *PostgresServer) asPostgres(bin string, args ...string) ([]byte, error) {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...).CombinedOutput()
}

func (s *PostgresServer) ctl(args ...string) ([]byte, error) {
	return s.asPostgres(filepath.Join(pgBin, "pg_ctl"), append([]string{"-D", s.data, "-l", filepath.Join(s.dir, "server.log")}, args...)...)
}

// Restart stops the server in mode (fast: sessions end, a checkpoint; immediate: as a crash,
// recovery from the WAL at start) and starts it again.
func (s *PostgresServer) Restart(t testing.TB, mode string) {
	t.Helper()
	if out, err := s.ctl("restart", "-w", "-t", "60", "-m", mode); err != nil {
		t.Fatalf("pg_ctl restart -m %s: %v\n%s", mode, err, out)
	}
}

// NewDB creates a migrated database on the server for t, as pgtest.New does on the
// machine's server.
func (s *PostgresServer) NewDB(t testing.TB) *pgtest.DB {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := "fc_e2e_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	cc, err := pgx.ParseConfig(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	cc.Database = name
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrations.Apply(ctx, conn)
	if err2 := conn.Close(ctx); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	url := strings.Replace(s.URL, "/postgres?", "/"+name+"?", 1)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &pgtest.DB{Name: name, URL: url, Pool: pool}
}
