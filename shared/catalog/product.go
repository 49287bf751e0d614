// Package catalog is the catalog context: products, their rules and their store.
package catalog

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/money"
)

// Product is a thing the shop sells.
type Product struct {
	ID          uuid.UUID   `json:"id"`
	SKU         string      `json:"sku"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Price       money.Money `json:"price"`
	Active      bool        `json:"active"`
	Version     int64       `json:"version"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

// Limits on product fields, mirrored by CHECK constraints in the migrations.
const (
	MaxNameLength        = 200
	MaxDescriptionLength = 5000
	MaxSearchLength      = 100
	// MaxPriceAmount keeps line totals of large orders far from int64 overflow.
	MaxPriceAmount = 1_000_000_000_00
)

var (
	// ErrNotFound: no live product has the id.
	ErrNotFound = fault.New(fault.NotFound, "product_not_found", "no product with this id")
	// ErrSKUTaken: another product already has the SKU.
	ErrSKUTaken = fault.New(fault.Conflict, "sku_taken", "another product already has this SKU")
	// ErrStale: the product changed since the version the client named.
	ErrStale = fault.New(fault.Conflict, "version_mismatch", "the product has changed since the version given; read it again")
	// ErrNothingToChange: an update named no field.
	ErrNothingToChange = fault.New(fault.Invalid, "nothing_to_change", "the update names no field to change")
)

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// NewProduct is what a client sends to create a product.
type NewProduct struct {
	SKU         string       `json:"sku"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Price       *money.Money `json:"price"`
	// Active defaults to true.
	Active *bool `json:"active"`
}

// Normalize trims surrounding white space from the text fields.
func (n *NewProduct) Normalize() {
	n.SKU = strings.TrimSpace(n.SKU)
	n.Name = strings.TrimSpace(n.Name)
	n.Description = strings.TrimSpace(n.Description)
}

// Validate checks every field and reports all violations at once.
func (n NewProduct) Validate() error {
	var v fault.Validator
	checkSKU(&v, n.SKU)
	checkName(&v, n.Name)
	checkDescription(&v, n.Description)
	if n.Price == nil {
		v.Add("price", "is required")
	} else {
		checkPrice(&v, *n.Price)
	}
	return v.Err()
}

// Patch is a partial update: nil fields stay as they are. The SKU never changes.
type Patch struct {
	Name        *string      `json:"name"`
	Description *string      `json:"description"`
	Price       *money.Money `json:"price"`
	Active      *bool        `json:"active"`
	// Version, when given, must equal the product's current version.
	Version *int64 `json:"version"`
}

// Normalize trims surrounding white space from the text fields.
func (p *Patch) Normalize() {
	if p.Name != nil {
		*p.Name = strings.TrimSpace(*p.Name)
	}
	if p.Description != nil {
		*p.Description = strings.TrimSpace(*p.Description)
	}
}

// Validate checks the fields present.
func (p Patch) Validate() error {
	if p.Name == nil && p.Description == nil && p.Price == nil && p.Active == nil {
		return ErrNothingToChange
	}
	var v fault.Validator
	if p.Name != nil {
		checkName(&v, *p.Name)
	}
	if p.Description != nil {
		checkDescription(&v, *p.Description)
	}
	if p.Price != nil {
		checkPrice(&v, *p.Price)
	}
	if p.Version != nil && *p.Version < 1 {
		v.Add("version", "must be 1 or more")
	}
	return v.Err()
}

func checkSKU(v *fault.Validator, sku string) {
	switch {
	case sku == "":
		v.Add("sku", "is required")
	case !skuPattern.MatchString(sku):
		v.Add("sku", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
}

func checkName(v *fault.Validator, name string) {
	switch {
	case name == "":
		v.Add("name", "is required")
	case utf8.RuneCountInString(name) > MaxNameLength:
		v.Add("name", "must be at most 200 characters")
	case !utf8.ValidString(name):
		v.Add("name", "must be valid UTF-8")
	}
}

func checkDescription(v *fault.Validator, d string) {
	switch {
	case utf8.RuneCountInString(d) > MaxDescriptionLength:
		v.Add("description", "must be at most 5000 characters")
	case !utf8.ValidString(d):
		v.Add("description", "must be valid UTF-8")
	}
}

func checkPrice(v *fault.Validator, p money.Money) {
	if p.Amount < 0 {
		v.Add("price.amount", "must not be negative")
	} else if p.Amount > MaxPriceAmount {
		v.Add("price.amount", "is too large")
	}
	if !money.ValidCurrency(p.Currency) {
		v.Add("price.currency", "must be an ISO 4217 currency code such as EUR")
	}
}

// Filter narrows a listing.
type Filter struct {
	// Query matches product names containing it, ignoring case.
	Query string
	// Active, when not nil, keeps only products with that flag.
	Active *bool
}

// Validate checks the filter's fields.
func (f Filter) Validate() error {
	var v fault.Validator
	v.Check(utf8.RuneCountInString(f.Query) <= MaxSearchLength, "q", "must be at most 100 characters")
	v.Check(utf8.ValidString(f.Query), "q", "must be valid UTF-8")
	return v.Err()
}
