package function

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/orders"
	"github.com/faas-commerce/faas-commerce/shared/orders/ordertest"
	"github.com/faas-commerce/faas-commerce/shared/page"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func as(id uuid.UUID, role auth.Role) context.Context {
	return auth.WithPrincipal(context.Background(), auth.Principal{Subject: id.String(), Roles: []auth.Role{role}})
}

// all follows next_cursor from query until the last page and returns every id in order.
func all(t *testing.T, ctx context.Context, app fntest.Handler, query url.Values) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for range 100 {
		var p page.Page[orders.Order]
		fntest.CallContext(t, ctx, app, http.MethodGet, "/?"+query.Encode(), nil).Expect(t, http.StatusOK).Decode(t, &p)
		for _, o := range p.Items {
			if len(o.Lines) == 0 {
				t.Fatalf("order %s listed without lines", o.ID)
			}
			ids = append(ids, o.ID)
		}
		if p.NextCursor == "" {
			return ids
		}
		query.Set("cursor", p.NextCursor)
	}
	t.Fatal("paging did not end")
	return nil
}

func TestListOrders(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(orders.NewStore(db.Pool))
	alice, bob := uuid.New(), uuid.New()
	var alices, bobs []uuid.UUID
	for i := range 7 {
		item := orders.Item{ProductID: uuid.New(), Quantity: 1}
		alices = append(alices, ordertest.Place(t, db.Pool, alice, item).ID)
		if i < 3 {
			bobs = append(bobs, ordertest.Place(t, db.Pool, bob, item).ID)
		}
	}
	// Cancel Alice's second order.
	err := pg.InTx(context.Background(), db.Pool, pg.TxOptions{}, func(tx pgx.Tx) error {
		_, err := orders.Cancel(context.Background(), tx, alices[1], alice, orders.ReasonStockRejected)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	same := func(got, want []uuid.UUID) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}

	if got := all(t, as(alice, auth.RoleCustomer), app, url.Values{"limit": {"3"}}); !same(got, alices) {
		t.Fatalf("alice lists %v, want %v", got, alices)
	}
	if got := all(t, as(alice, auth.RoleCustomer), app, url.Values{"limit": {"2"}, "customer_id": {alice.String()}}); !same(got, alices) {
		t.Fatalf("alice by id lists %v", got)
	}
	if got := all(t, as(alice, auth.RoleCustomer), app, url.Values{"status": {"cancelled"}}); !same(got, alices[1:2]) {
		t.Fatalf("alice's cancelled: %v", got)
	}
	if got := all(t, as(alice, auth.RoleCustomer), app, url.Values{"status": {"PENDING"}, "limit": {"4"}}); len(got) != 6 {
		t.Fatalf("alice's pending: %v", got)
	}
	if got := all(t, as(bob, auth.RoleCustomer), app, url.Values{}); !same(got, bobs) {
		t.Fatalf("bob lists %v, want %v", got, bobs)
	}
	admin := as(uuid.New(), auth.RoleAdmin)
	if got := all(t, admin, app, url.Values{"customer_id": {bob.String()}, "limit": {"1"}}); !same(got, bobs) {
		t.Fatalf("admin lists bob's %v", got)
	}
	if got := all(t, admin, app, url.Values{"limit": {"4"}}); len(got) != 10 {
		t.Fatalf("admin lists %d orders", len(got))
	}
	var empty page.Page[orders.Order]
	fntest.CallContext(t, as(uuid.New(), auth.RoleCustomer), app, http.MethodGet, "/", nil).Expect(t, http.StatusOK).Decode(t, &empty)
	if empty.Items == nil || len(empty.Items) != 0 || empty.NextCursor != "" {
		t.Fatalf("a new customer's list %+v", empty)
	}

	cases := []struct {
		name   string
		ctx    context.Context
		query  string
		status int
		code   string
		fields []string
	}{
		{"no token", context.Background(), "", 401, "unauthenticated", nil},
		{"service", as(uuid.New(), auth.RoleService), "", 403, "forbidden", nil},
		{"another customer's orders", as(alice, auth.RoleCustomer), "customer_id=" + bob.String(), 403, "forbidden", nil},
		{"bad limit", as(alice, auth.RoleCustomer), "limit=0", 422, "invalid_query", []string{"limit"}},
		{"bad cursor", as(alice, auth.RoleCustomer), "cursor=abc", 422, "invalid_query", []string{"cursor"}},
		{"bad status", as(alice, auth.RoleCustomer), "status=SHIPPED", 422, "invalid_query", []string{"status"}},
		{"bad customer id", admin, "customer_id=7", 422, "invalid_query", []string{"customer_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallContext(t, c.ctx, app, http.MethodGet, "/?"+c.query, nil).ExpectError(t, c.status, c.code, c.fields...)
		})
	}
}
