package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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
