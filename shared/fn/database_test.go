package fn_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faas-commerce/faas-commerce/shared/fn"
)

// A database that is down is a dependency that is down: 503 with Retry-After, not 500.
func TestDatabaseUnavailableIs503(t *testing.T) {
	rec := httptest.NewRecorder()
	fn.WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil),
		fmt.Errorf("place order: begin: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if body := rec.Body.String(); !strings.Contains(body, `"database_unavailable"`) || strings.Contains(body, "starting up") {
		t.Fatalf("body %s: want code database_unavailable and no driver detail", body)
	}
}
