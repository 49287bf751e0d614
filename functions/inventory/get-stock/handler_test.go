package function

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

var admin = auth.WithPrincipal(context.Background(), auth.Principal{Subject: "ops", Roles: []auth.Role{auth.RoleAdmin}})

func TestGetStock(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(db.Pool)
	ctx := context.Background()
	p := catalogtest.Create(t, db.Pool, 1, nil)[0].ID
	if _, err := inventory.AddStock(ctx, db.Pool, p, 20, ""); err != nil {
		t.Fatal(err)
	}
	for _, q := range []int{3, 4} {
		err := pg.InTx(ctx, db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
			_, err := inventory.Reserve(ctx, tx, uuid.New(), []inventory.Item{{ProductID: p, Quantity: q}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var s inventory.Stock
	resp := fntest.CallContext(t, admin, app, http.MethodGet, "/"+p.String(), nil).Expect(t, http.StatusOK)
	resp.Decode(t, &s)
	if s.ProductID != p || s.OnHand != 13 || s.Reserved != 7 || s.Version != 4 || s.UpdatedAt.IsZero() {
		t.Fatalf("stock %+v", s)
	}
	if resp.Header.Get("ETag") != `"4"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}

	customer := auth.WithPrincipal(ctx, auth.Principal{Subject: uuid.NewString(), Roles: []auth.Role{auth.RoleCustomer}})
	fntest.Call(t, app, http.MethodGet, "/"+p.String(), nil).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
	fntest.CallContext(t, customer, app, http.MethodGet, "/"+p.String(), nil).ExpectError(t, http.StatusForbidden, "forbidden")
	fntest.CallContext(t, admin, app, http.MethodGet, "/"+uuid.NewString(), nil).ExpectError(t, http.StatusNotFound, "stock_not_found")
	fntest.CallContext(t, admin, app, http.MethodGet, "/not-a-uuid", nil).ExpectError(t, http.StatusBadRequest, "invalid_parameter", "product_id")
	fntest.CallContext(t, admin, app, http.MethodPost, "/"+p.String(), nil).ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}
