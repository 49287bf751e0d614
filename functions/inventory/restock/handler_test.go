package function

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

var (
	admin    = auth.WithPrincipal(context.Background(), auth.Principal{Subject: "ops", Roles: []auth.Role{auth.RoleAdmin}})
	customer = auth.WithPrincipal(context.Background(), auth.Principal{Subject: uuid.NewString(), Roles: []auth.Role{auth.RoleCustomer}})
)

func restocks(t *testing.T, db *pgtest.DB) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM inventory.restocks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRestock(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0].ID
	path := "/" + p.String()

	var r inventory.Restock
	resp := fntest.CallContext(t, admin, app, http.MethodPost, path, map[string]int{"quantity": 12}).Expect(t, http.StatusCreated)
	resp.Decode(t, &r)
	if r.ProductID != p || r.Quantity != 12 || r.Stock.OnHand != 12 || r.Stock.Version != 2 || r.ID == uuid.Nil {
		t.Fatalf("restock %+v", r)
	}
	if resp.Header.Get("Location") != "/function/get-stock/"+p.String() {
		t.Errorf("Location %q", resp.Header.Get("Location"))
	}
	fntest.CallContext(t, admin, app, http.MethodPost, path, map[string]int{"quantity": 1_000_000}).Expect(t, http.StatusCreated).Decode(t, &r)
	if r.Stock.OnHand != 1_000_012 {
		t.Fatalf("second restock %+v", r)
	}

	t.Run("idempotency key replays", func(t *testing.T) {
		var first, again inventory.Restock
		fntest.CallContext(t, admin, app, http.MethodPost, path, map[string]int{"quantity": 5}, "Idempotency-Key", "delivery-7").Expect(t, http.StatusCreated).Decode(t, &first)
		resp := fntest.CallContext(t, admin, app, http.MethodPost, path, map[string]int{"quantity": 5}, "Idempotency-Key", "delivery-7").Expect(t, http.StatusCreated)
		resp.Decode(t, &again)
		if again.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %+v, first %+v", again, first)
		}
		fntest.CallContext(t, admin, app, http.MethodPost, path, map[string]int{"quantity": 6}, "Idempotency-Key", "delivery-7").
			ExpectError(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
		s, err := inventory.Get(context.Background(), db.Pool, p)
		if err != nil || s.OnHand != 1_000_017 {
			t.Fatalf("stock %+v, %v", s, err)
		}
	})

	fntest.CallContext(t, admin, app, http.MethodPost, "/"+uuid.NewString(), map[string]int{"quantity": 1}).ExpectError(t, http.StatusNotFound, "stock_not_found")
}

func TestRestockRefusesBadInput(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0].ID
	path := "/" + p.String()
	cases := []struct {
		name   string
		ctx    context.Context
		path   string
		body   string
		status int
		code   string
		fields []string
	}{
		{"no token", context.Background(), path, `{"quantity":1}`, 401, "unauthenticated", nil},
		{"customer", customer, path, `{"quantity":1}`, 403, "forbidden", nil},
		{"bad product id", admin, "/42", `{"quantity":1}`, 400, "invalid_parameter", []string{"product_id"}},
		{"upper-case product id", admin, strings.ToUpper(path), `{"quantity":1}`, 400, "invalid_parameter", []string{"product_id"}},
		{"malformed JSON", admin, path, `{"quantity":`, 400, "malformed_json", nil},
		{"empty body", admin, path, ``, 400, "empty_body", nil},
		{"text quantity", admin, path, `{"quantity":"5"}`, 400, "wrong_type", []string{"quantity"}},
		{"fractional quantity", admin, path, `{"quantity":1.5}`, 400, "wrong_type", []string{"quantity"}},
		{"unknown field", admin, path, `{"quantity":1,"on_hand":5}`, 400, "unknown_field", []string{"on_hand"}},
		{"missing quantity", admin, path, `{}`, 422, "validation_failed", []string{"quantity"}},
		{"zero", admin, path, `{"quantity":0}`, 422, "validation_failed", []string{"quantity"}},
		{"negative", admin, path, `{"quantity":-4}`, 422, "validation_failed", []string{"quantity"}},
		{"too many", admin, path, `{"quantity":1000001}`, 422, "validation_failed", []string{"quantity"}},
		{"oversize body", admin, path, `{"quantity":1,"x":"` + strings.Repeat("x", 5000) + `"}`, 413, "body_too_large", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallContext(t, c.ctx, app, http.MethodPost, c.path, fntest.Raw(c.body)).ExpectError(t, c.status, c.code, c.fields...)
		})
	}
	s, err := inventory.Get(context.Background(), db.Pool, p)
	if err != nil || s.OnHand != 0 || s.Version != 1 || restocks(t, db) != 0 {
		t.Fatalf("bad input changed stock: %+v, %v, %d restocks", s, err, restocks(t, db))
	}
}
