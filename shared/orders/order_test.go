package orders

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/money"
)

func fields(t *testing.T, err error) []string {
	t.Helper()
	fe, ok := fault.As(err)
	if !ok {
		t.Fatalf("not a fault: %v", err)
	}
	var out []string
	for _, d := range fe.Details {
		out = append(out, d.Field)
	}
	return out
}

func TestItems(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	many := make([]NewLine, MaxLines+1)
	for i := range many {
		many[i] = NewLine{ProductID: uuid.NewString(), Quantity: 1}
	}
	cases := []struct {
		name   string
		lines  []NewLine
		fields []string
	}{
		{"no lines", nil, []string{"lines"}},
		{"too many lines", many, []string{"lines"}},
		{"zero quantity", []NewLine{{a, 0}}, []string{"lines[0].quantity"}},
		{"negative quantity", []NewLine{{a, 1}, {b, -2}}, []string{"lines[1].quantity"}},
		{"quantity over limit", []NewLine{{a, MaxQuantity + 1}}, []string{"lines[0].quantity"}},
		{"missing id", []NewLine{{"", 1}}, []string{"lines[0].product_id"}},
		{"bad id", []NewLine{{"abc", 1}}, []string{"lines[0].product_id"}},
		{"braced id", []NewLine{{"{" + a[:34] + "}", 1}}, []string{"lines[0].product_id"}},
		{"nil id", []NewLine{{uuid.Nil.String(), 1}}, []string{"lines[0].product_id"}},
		{"duplicate product", []NewLine{{a, 1}, {b, 1}, {strings.ToUpper(a), 2}}, []string{"lines[2].product_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewOrder{Lines: c.lines}.Items()
			if got := fields(t, err); fmt.Sprint(got) != fmt.Sprint(c.fields) {
				t.Fatalf("fields %v, want %v", got, c.fields)
			}
		})
	}
	items, err := NewOrder{Lines: []NewLine{{strings.ToUpper(a), 2}, {b, MaxQuantity}}}.Items()
	if err != nil || len(items) != 2 || items[0].ProductID.String() != a || items[1].Quantity != MaxQuantity {
		t.Fatalf("%+v, %v", items, err)
	}
}

func TestPriceLines(t *testing.T) {
	eur := func(n int64) money.Money { return money.Money{Amount: n, Currency: "EUR"} }
	p := func(price money.Money, active bool) catalog.Product {
		return catalog.Product{ID: uuid.New(), Price: price, Active: active}
	}
	items := func(ps ...catalog.Product) []Item {
		out := make([]Item, len(ps))
		for i, p := range ps {
			out[i] = Item{ProductID: p.ID, Quantity: 3}
		}
		return out
	}
	t.Run("prices and totals", func(t *testing.T) {
		ps := []catalog.Product{p(eur(250), true), p(eur(0), true)}
		lines, err := priceLines(items(ps...), ps, make([]error, 2))
		if err != nil {
			t.Fatal(err)
		}
		sum, err := total(lines)
		if err != nil || lines[0].LineTotal != eur(750) || lines[1].UnitPrice != eur(0) || sum != eur(750) {
			t.Fatalf("%+v, %v, %v", lines, sum, err)
		}
	})
	t.Run("missing, inactive and other currency name their lines", func(t *testing.T) {
		ps := []catalog.Product{p(eur(1), true), {}, p(eur(1), false), p(money.Money{Amount: 1, Currency: "USD"}, true)}
		errs := []error{nil, errNoProduct, nil, nil}
		_, err := priceLines(items(ps...), ps, errs)
		want := []string{"lines[1].product_id", "lines[2].product_id", "lines[3].product_id"}
		if got := fields(t, err); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("fields %v, want %v", got, want)
		}
	})
	t.Run("overflow", func(t *testing.T) {
		ps := []catalog.Product{p(eur(1<<62), true)}
		if _, err := priceLines(items(ps...), ps, make([]error, 1)); !errors.Is(err, ErrTotalTooLarge) {
			t.Fatalf("%v", err)
		}
	})
}

func TestParseQuery(t *testing.T) {
	if s, err := ParseStatus("cancelled"); err != nil || *s != Cancelled {
		t.Fatalf("%v %v", s, err)
	}
	if _, err := ParseStatus("SHIPPED"); fmt.Sprint(fields(t, err)) != "[status]" {
		t.Fatal(err)
	}
	if _, err := ParseCustomerID("x"); fmt.Sprint(fields(t, err)) != "[customer_id]" {
		t.Fatal(err)
	}
}

func TestAccess(t *testing.T) {
	me, other := uuid.New(), uuid.New()
	customer := auth.Principal{Subject: me.String(), Roles: []auth.Role{auth.RoleCustomer}}
	admin := auth.Principal{Subject: "ops", Roles: []auth.Role{auth.RoleAdmin}}
	odd := auth.Principal{Subject: "not-a-uuid", Roles: []auth.Role{auth.RoleCustomer}}
	if !Visible(customer, me) || Visible(customer, other) || !Visible(admin, other) || Visible(odd, me) {
		t.Fatal("Visible")
	}
	if got, err := ListScope(customer, nil); err != nil || *got != me {
		t.Fatalf("own list: %v %v", got, err)
	}
	if got, err := ListScope(customer, &me); err != nil || *got != me {
		t.Fatalf("own list by id: %v %v", got, err)
	}
	if _, err := ListScope(customer, &other); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("other's list: %v", err)
	}
	if got, err := ListScope(admin, nil); err != nil || got != nil {
		t.Fatalf("admin list: %v %v", got, err)
	}
	if got, err := ListScope(admin, &other); err != nil || *got != other {
		t.Fatalf("admin list by id: %v %v", got, err)
	}
}
