package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
)

// shop is what the flow tests need: products with stock and customers with tokens.
type shop struct {
	p     *platform.Platform
	admin string
}

type product struct {
	ID    string `json:"id"`
	Price struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"price"`
}

type order struct {
	ID           string `json:"id"`
	CustomerID   string `json:"customer_id"`
	Status       string `json:"status"`
	CancelReason string `json:"cancel_reason"`
}

func newShop(t *testing.T, p *platform.Platform) *shop {
	return &shop{p: p, admin: p.AdminToken(t)}
}

// product creates a product priced amount (EUR cents) with onHand units in stock.
func (s *shop) product(t *testing.T, sku string, amount int64, onHand int) product {
	t.Helper()
	var pr product
	s.p.Call(t, http.MethodPost, "create-product", s.admin, map[string]any{
		"sku": sku, "name": "Product " + sku, "price": map[string]any{"amount": amount, "currency": "EUR"},
	}).Decode(t, &pr)
	if pr.ID == "" {
		t.Fatalf("create-product %s failed", sku)
	}
	if onHand > 0 {
		r := s.p.Call(t, http.MethodPost, "restock/"+pr.ID, s.admin, map[string]any{"quantity": onHand})
		if r.Status != http.StatusCreated && r.Status != http.StatusOK {
			t.Fatalf("restock: %d %s", r.Status, r.Body)
		}
	}
	return pr
}

// customer registers a customer and signs them in; it returns their id and token.
func (s *shop) customer(t *testing.T, email string) (string, string) {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	r := s.p.Call(t, http.MethodPost, "register-customer", "", map[string]any{"email": email, "name": "Customer", "password": "correct horse battery staple"})
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, r.Status, r.Body)
	}
	r.Decode(t, &c)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r = s.p.Call(t, http.MethodPost, "issue-token/sign-in", "", map[string]any{"email": email, "password": "correct horse battery staple"})
	if r.Status != http.StatusOK {
		t.Fatalf("sign in %s: %d %s", email, r.Status, r.Body)
	}
	r.Decode(t, &tok)
	return c.ID, tok.AccessToken
}

// place places an order and returns it as accepted.
func (s *shop) place(t *testing.T, token string, lines ...any) order {
	t.Helper()
	r := s.p.Call(t, http.MethodPost, "create-order", token, map[string]any{"lines": lines})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create-order: %d %s", r.Status, r.Body)
	}
	var o order
	r.Decode(t, &o)
	return o
}

func line(p product, qty int) map[string]any {
	return map[string]any{"product_id": p.ID, "quantity": qty}
}

// settled waits until every order is COMPLETED or CANCELLED, reading the database.
func (s *shop) settled(t *testing.T, ids []string, timeout time.Duration) map[string]order {
	t.Helper()
	out := map[string]order{}
	platform.Eventually(t, timeout, func() bool {
		rows, err := s.p.DB.Pool.Query(t.Context(), "SELECT id::text, customer_id::text, status, coalesce(cancel_reason, '') FROM orders.orders WHERE id = ANY($1::uuid[])", ids)
		if err != nil {
			return false
		}
		defer rows.Close()
		pending := 0
		for rows.Next() {
			var o order
			if err := rows.Scan(&o.ID, &o.CustomerID, &o.Status, &o.CancelReason); err != nil {
				return false
			}
			out[o.ID] = o
			if o.Status == "PENDING" {
				pending++
			}
		}
		return rows.Err() == nil && pending == 0 && len(out) == len(ids)
	}, func() string { return fmt.Sprintf("%d of %d orders read, some still PENDING", len(out), len(ids)) })
	return out
}

func TestOrderCompletesEndToEnd(t *testing.T) {
	p := platform.Start(t, platform.Options{})
	s := newShop(t, p)
	mug := s.product(t, "MUG-1", 1500, 5)
	_, tok := s.customer(t, "ada@example.com")
	o := s.place(t, tok, line(mug, 2))
	got := s.settled(t, []string{o.ID}, 60*time.Second)[o.ID]
	if got.Status != "COMPLETED" {
		t.Fatalf("order %s ended %s (%s)", o.ID, got.Status, got.CancelReason)
	}
}
