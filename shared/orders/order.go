// Package orders is the orders context: orders, their rules, their prices (read from the
// catalog through the gateway) and their store.
package orders

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/money"
)

// Status is where an order is in its life: PENDING until stock and payment settle it, then
// COMPLETED or CANCELLED for good.
type Status string

// The statuses.
const (
	Pending   Status = "PENDING"
	Completed Status = "COMPLETED"
	Cancelled Status = "CANCELLED"
)

// Why an order was cancelled.
const (
	ReasonStockRejected = "stock_rejected"
	ReasonPaymentFailed = "payment_failed"
)

// Order is what a customer bought, at the prices of the moment they ordered.
type Order struct {
	ID         uuid.UUID   `json:"id"`
	CustomerID uuid.UUID   `json:"customer_id"`
	Status     Status      `json:"status"`
	Lines      []Line      `json:"lines"`
	Total      money.Money `json:"total"`
	// CancelReason is stock_rejected or payment_failed for a cancelled order, else empty.
	CancelReason string    `json:"cancel_reason,omitempty"`
	Version      int64     `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Line is one product of an order.
type Line struct {
	ProductID uuid.UUID   `json:"product_id"`
	Quantity  int         `json:"quantity"`
	UnitPrice money.Money `json:"unit_price"`
	LineTotal money.Money `json:"line_total"`
}

// Limits on an order, mirrored by CHECK constraints in the migrations.
const (
	MaxLines    = 50
	MaxQuantity = 1000
)

var (
	// ErrNotFound: no order has the id, or the caller may not see it.
	ErrNotFound = fault.New(fault.NotFound, "order_not_found", "no order with this id")
	// ErrTotalTooLarge: the order's total does not fit an amount.
	ErrTotalTooLarge = fault.New(fault.Invalid, "total_too_large", "the order's total is too large")
)

// NewOrder is what a customer sends to place an order. The customer is the caller; prices come
// from the catalog, never from the client.
type NewOrder struct {
	Lines []NewLine `json:"lines"`
}

// NewLine asks for a quantity of a product.
type NewLine struct {
	// ProductID is read as text so that a bad id is a field error naming the line.
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// Item is a validated line: a product and a quantity.
type Item struct {
	ProductID uuid.UUID `json:"product_id"`
	Quantity  int       `json:"quantity"`
}

// Items checks every line and reports all violations at once; on success it returns the
// lines as items, in the order given.
func (n NewOrder) Items() ([]Item, error) {
	var v fault.Validator
	switch {
	case len(n.Lines) == 0:
		v.Add("lines", "must hold at least one line")
	case len(n.Lines) > MaxLines:
		v.Add("lines", fmt.Sprintf("must hold at most %d lines", MaxLines))
	}
	items := make([]Item, 0, len(n.Lines))
	seen := make(map[uuid.UUID]int, len(n.Lines))
	for i, l := range n.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		id, err := parseID(l.ProductID)
		switch {
		case l.ProductID == "":
			v.Add(field+".product_id", "is required")
		case err != nil:
			v.Add(field+".product_id", "must be a UUID")
		default:
			if first, dup := seen[id]; dup {
				v.Add(field+".product_id", fmt.Sprintf("repeats lines[%d]; order more of one product in one line", first))
			}
			seen[id] = i
		}
		v.Check(l.Quantity >= 1 && l.Quantity <= MaxQuantity, field+".quantity", fmt.Sprintf("must be from 1 to %d", MaxQuantity))
		items = append(items, Item{ProductID: id, Quantity: l.Quantity})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

// parseID accepts the hyphenated form only, in either case.
func parseID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, fmt.Errorf("not a UUID")
	}
	id, err := uuid.Parse(strings.ToLower(s))
	if err == nil && id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("nil UUID")
	}
	return id, err
}

// Filter narrows a listing.
type Filter struct {
	// CustomerID, when not nil, keeps that customer's orders.
	CustomerID *uuid.UUID
	// Status, when not nil, keeps orders in that status.
	Status *Status
}

// ParseStatus reads a status given in a query ("" means any).
func ParseStatus(s string) (*Status, error) {
	if s == "" {
		return nil, nil
	}
	st := Status(strings.ToUpper(s))
	switch st {
	case Pending, Completed, Cancelled:
		return &st, nil
	}
	return nil, errQuery.With(fault.Detail{Field: "status", Message: "must be PENDING, COMPLETED or CANCELLED"})
}

var errQuery = fault.New(fault.Invalid, "invalid_query", "a query parameter is invalid")

// ParseCustomerID reads a customer id given in a query ("" means any).
func ParseCustomerID(s string) (*uuid.UUID, error) {
	if s == "" {
		return nil, nil
	}
	id, err := parseID(s)
	if err != nil {
		return nil, errQuery.With(fault.Detail{Field: "customer_id", Message: "must be a UUID"})
	}
	return &id, nil
}
