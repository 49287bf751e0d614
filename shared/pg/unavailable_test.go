package pg_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faas-commerce/faas-commerce/shared/pg"
)

func TestUnavailable(t *testing.T) {
	// Nothing listens on port 1 of loopback: a real ConnectError, without a network.
	_, connectErr := pgconn.Connect(context.Background(), "postgres://postgres@127.0.0.1:1/x?connect_timeout=2")
	if connectErr == nil {
		t.Fatal("connected to port 1")
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused", fmt.Errorf("place order: begin: %w", connectErr), true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"admin shutdown", fmt.Errorf("commit: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"connection closed", fmt.Errorf("commit: %w", pgconn.ErrConnClosed), true},
		{"server gone mid-answer", fmt.Errorf("get product: %w", io.ErrUnexpectedEOF), true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pg.Unavailable(tc.err); got != tc.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
