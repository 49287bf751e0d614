package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/gateway"
	"github.com/faas-commerce/faas-commerce/shared/money"
)

// Pricer prices an order's items: the order's lines, each with its unit price and line total,
// in the items' order.
type Pricer interface {
	Price(ctx context.Context, items []Item) ([]Line, error)
}

// Catalog prices items with the products get-product answers through the gateway.
type Catalog struct {
	gw *gateway.Client
}

// NewCatalog returns a Catalog calling through gw.
func NewCatalog(gw *gateway.Client) *Catalog { return &Catalog{gw: gw} }

// GetProductFunction is the function Catalog asks.
const GetProductFunction = "get-product"

// lookupConcurrency bounds the calls one order makes at once.
const lookupConcurrency = 8

// errNoProduct: get-product knows no live product with the id.
var errNoProduct = errors.New("no such product")

// Price reads every product (a few at a time) and prices the lines. A product that is unknown,
// deleted or not on sale, and a line priced in another currency than the first line, is a
// validation error naming the line; a catalog that cannot be reached is gateway.ErrUnavailable.
func (c *Catalog) Price(ctx context.Context, items []Item) ([]Line, error) {
	products := make([]catalog.Product, len(items))
	errs := make([]error, len(items))
	sem := make(chan struct{}, lookupConcurrency)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			products[i], errs[i] = c.product(ctx, it.ProductID)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, errNoProduct) {
			return nil, err
		}
	}
	return priceLines(items, products, errs)
}

// product is the one place an order calls the catalog.
func (c *Catalog) product(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	var p catalog.Product
	err := c.gw.GetJSON(ctx, GetProductFunction, id.String(), &p)
	var se *gateway.StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusNotFound && se.Code == catalog.ErrNotFound.Code:
		return catalog.Product{}, errNoProduct
	case errors.As(err, &se):
		// A 404 without the catalog's code is a gateway without get-product; any other refusal
		// is not the order's fault either.
		return catalog.Product{}, gateway.ErrUnavailable.Wrap(err)
	case err != nil:
		return catalog.Product{}, err
	case p.ID != id:
		return catalog.Product{}, gateway.ErrUnavailable.Wrap(fmt.Errorf("get-product answered product %s for %s", p.ID, id))
	}
	return p, nil
}

// priceLines applies the order's price rules to the products read for items (errs[i] set when
// item i has no product).
func priceLines(items []Item, products []catalog.Product, errs []error) ([]Line, error) {
	var v fault.Validator
	lines := make([]Line, len(items))
	currency := ""
	for i, it := range items {
		field := fmt.Sprintf("lines[%d].product_id", i)
		p := products[i]
		if errs[i] != nil || !p.Active {
			v.Add(field, "is not a product on sale")
			continue
		}
		if currency == "" {
			currency = p.Price.Currency
		} else if p.Price.Currency != currency {
			v.Add(field, fmt.Sprintf("is priced in %s; every line of an order must be in %s", p.Price.Currency, currency))
			continue
		}
		total, err := p.Price.Mul(int64(it.Quantity))
		if err != nil {
			return nil, ErrTotalTooLarge
		}
		lines[i] = Line{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: p.Price, LineTotal: total}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return lines, nil
}

// total adds up the lines.
func total(lines []Line) (money.Money, error) {
	sum := money.Money{Currency: lines[0].UnitPrice.Currency}
	for _, l := range lines {
		var err error
		if sum, err = sum.Add(l.LineTotal); err != nil {
			return money.Money{}, ErrTotalTooLarge.Wrap(err)
		}
	}
	return sum, nil
}
