package function

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/orders"
	"github.com/faas-commerce/faas-commerce/shared/orders/ordertest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func as(id uuid.UUID, role auth.Role) context.Context {
	return auth.WithPrincipal(context.Background(), auth.Principal{Subject: id.String(), Roles: []auth.Role{role}})
}

func TestGetOrder(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(orders.NewStore(db.Pool))
	alice, bob := uuid.New(), uuid.New()
	o := ordertest.Place(t, db.Pool, alice, orders.Item{ProductID: uuid.New(), Quantity: 2}, orders.Item{ProductID: uuid.New(), Quantity: 1})
	path := "/" + o.ID.String()

	var got orders.Order
	resp := fntest.CallContext(t, as(alice, auth.RoleCustomer), app, http.MethodGet, path, nil).Expect(t, http.StatusOK)
	resp.Decode(t, &got)
	if fmt.Sprint(got) != fmt.Sprint(o) || got.Total.Amount != 300 || len(got.Lines) != 2 || got.Lines[0].LineTotal.Amount != 200 {
		t.Fatalf("got %+v, placed %+v", got, o)
	}
	if resp.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}
	fntest.CallContext(t, as(uuid.New(), auth.RoleAdmin), app, http.MethodGet, path, nil).Expect(t, http.StatusOK).Decode(t, &got)
	if got.ID != o.ID {
		t.Fatalf("admin got %+v", got)
	}

	// Another customer's order looks exactly like one that does not exist.
	theirs := fntest.CallContext(t, as(bob, auth.RoleCustomer), app, http.MethodGet, path, nil)
	theirs.ExpectError(t, http.StatusNotFound, "order_not_found")
	missing := fntest.CallContext(t, as(bob, auth.RoleCustomer), app, http.MethodGet, "/"+uuid.NewString(), nil)
	missing.ExpectError(t, http.StatusNotFound, "order_not_found")
	if string(theirs.Body) != string(missing.Body) {
		t.Errorf("another's order %s, a missing one %s", theirs.Body, missing.Body)
	}

	fntest.Call(t, app, http.MethodGet, path, nil).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
	fntest.CallContext(t, as(uuid.New(), auth.RoleService), app, http.MethodGet, path, nil).ExpectError(t, http.StatusForbidden, "forbidden")
	fntest.CallContext(t, as(alice, auth.RoleCustomer), app, http.MethodGet, "/42", nil).ExpectError(t, http.StatusBadRequest, "invalid_parameter", "id")
	fntest.CallContext(t, as(alice, auth.RoleCustomer), app, http.MethodDelete, path, nil).ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}
