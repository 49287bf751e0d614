// Package money is an amount of an ISO 4217 currency in integer minor units (cents for EUR,
// yen for JPY). There are no floats anywhere in a price.
package money

import (
	"errors"
	"fmt"

	"golang.org/x/text/currency"
)

// Money is an amount in minor units of a currency.
type Money struct {
	// Amount in minor units, e.g. 1999 for 19.99 EUR.
	Amount int64 `json:"amount"`
	// Currency is the ISO 4217 code, upper case.
	Currency string `json:"currency"`
}

// ErrCurrency says a code is not an ISO 4217 currency.
var ErrCurrency = errors.New("not an ISO 4217 currency code")

// ValidCurrency reports whether code is a three-letter upper-case ISO 4217 currency that is
// legal tender (XXX, XTS and the precious metals are not).
func ValidCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for _, c := range code {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return false
	}
	for _, t := range []currency.Unit{currency.XXX, currency.XTS, currency.XAU, currency.XAG, currency.XPT, currency.XPD} {
		if u == t {
			return false
		}
	}
	return true
}

// Scale returns the number of minor-unit digits of a valid currency (2 for EUR, 0 for JPY).
func Scale(code string) (int, error) {
	u, err := currency.ParseISO(code)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", code, ErrCurrency)
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale, nil
}

// Mul multiplies m by a non-negative quantity, reporting overflow.
func (m Money) Mul(q int64) (Money, error) {
	if q < 0 {
		return Money{}, errors.New("negative quantity")
	}
	if q != 0 && m.Amount > (1<<63-1)/q {
		return Money{}, errors.New("amount overflows")
	}
	return Money{Amount: m.Amount * q, Currency: m.Currency}, nil
}

// Add sums two amounts of the same currency, reporting a currency mismatch or overflow.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("cannot add %s to %s", o.Currency, m.Currency)
	}
	if o.Amount > 0 && m.Amount > (1<<63-1)-o.Amount {
		return Money{}, errors.New("amount overflows")
	}
	return Money{Amount: m.Amount + o.Amount, Currency: m.Currency}, nil
}

// String formats m for people, e.g. "19.99 EUR".
func (m Money) String() string {
	scale, err := Scale(m.Currency)
	if err != nil || scale == 0 {
		return fmt.Sprintf("%d %s", m.Amount, m.Currency)
	}
	div := int64(1)
	for range scale {
		div *= 10
	}
	sign := ""
	a := m.Amount
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, a/div, scale, a%div, m.Currency)
}
