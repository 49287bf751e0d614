// Package migrations holds the platform's SQL migrations, numbered, one schema per context, and
// applies them with tern (github.com/jackc/tern/v2), which speaks pgx v5 natively and takes an
// advisory lock so concurrent runs are safe.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// VersionTable records which migrations ran.
const VersionTable = "public.schema_version"

// FS returns the migration files.
func FS() fs.FS { return files }

// Apply runs every migration not yet applied to the database conn is connected to and returns
// the version reached.
func Apply(ctx context.Context, conn *pgx.Conn) (int32, error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return 0, fmt.Errorf("migrator: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read version: %w", err)
	}
	return v, nil
}

// Fingerprint is a short hash of every migration's name and text; databases built from
// different migrations get different fingerprints.
func Fingerprint() (string, error) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
