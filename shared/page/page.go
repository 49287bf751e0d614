// Package page is keyset pagination: an opaque cursor that names the last row of a page and a
// page size that is always capped.
package page

import (
	"encoding/base64"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

const (
	// DefaultLimit is the page size when the client names none.
	DefaultLimit = 20
	// MaxLimit caps every page.
	MaxLimit = 100
)

// Request is what a client asked for: up to Limit rows after the row After (nil: from the start).
type Request struct {
	Limit int
	After *uuid.UUID
}

var errQuery = fault.New(fault.Invalid, "invalid_query", "a query parameter is invalid")

// FromQuery reads `limit` and `cursor` from q. A limit over MaxLimit is capped, not refused;
// a limit below 1 or a cursor that was not made by Cursor is an error naming the parameter.
func FromQuery(q url.Values) (Request, error) {
	r := Request{Limit: DefaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return r, errQuery.With(fault.Detail{Field: "limit", Message: "must be a whole number from 1 to " + strconv.Itoa(MaxLimit)})
		}
		r.Limit = min(n, MaxLimit)
	}
	if s := q.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 16 {
			return r, errQuery.With(fault.Detail{Field: "cursor", Message: "is not a cursor this endpoint issued"})
		}
		id, _ := uuid.FromBytes(b) // 16 bytes always parse
		r.After = &id
	}
	return r, nil
}

// Cursor encodes the key of the last row of a page.
func Cursor(last uuid.UUID) string { return base64.RawURLEncoding.EncodeToString(last[:]) }

// Page is one page of a listing; NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Build makes a page from up to limit+1 rows fetched in key order: the extra row, when present,
// only says that another page follows.
func Build[T any](rows []T, limit int, key func(T) uuid.UUID) Page[T] {
	p := Page[T]{Items: rows}
	if len(rows) > limit {
		p.Items = rows[:limit]
		p.NextCursor = Cursor(key(rows[limit-1]))
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}
