package function

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/customers/customerstest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func TestGetCustomer(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(customers.NewStore(db.Pool))
	c := customerstest.Create(t, db.Pool, 2, func(i int, n *customers.NewCustomer) {
		if i == 1 {
			n.Phone = "+4930123456"
			n.Notify = &customers.NotifyChoice{SMS: new(true)}
		}
	})[1]

	resp := fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/"+c.ID.String(), nil).Expect(t, http.StatusOK)
	var got customers.Customer
	resp.Decode(t, &got)
	if got != c {
		t.Fatalf("got %+v, want %+v", got, c)
	}
	if resp.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}
}

func TestGetCustomerErrors(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(customers.NewStore(db.Pool))
	customerstest.Create(t, db.Pool, 1, nil)
	cases := []struct {
		name   string
		method string
		path   string
		status int
		code   string
		fields []string
	}{
		{"unknown customer", http.MethodGet, "/" + uuid.NewString(), 404, "customer_not_found", nil},
		{"id not a UUID", http.MethodGet, "/123", 400, "invalid_parameter", []string{"id"}},
		{"id in braces", http.MethodGet, "/{" + uuid.NewString() + "}", 400, "invalid_parameter", []string{"id"}},
		{"no id", http.MethodGet, "/", 404, "not_found", nil},
		{"wrong method", http.MethodDelete, "/" + uuid.NewString(), 405, "method_not_allowed", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallAs(t, fntest.Admin, app, c.method, c.path, nil).ExpectError(t, c.status, c.code, c.fields...)
		})
	}
}
