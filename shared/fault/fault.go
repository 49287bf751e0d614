// Package fault gives the contexts a vocabulary of failures that the edge (the function's HTTP
// adapter) turns into a status and a stable error code exactly once. Context packages define
// their sentinel errors with New; handlers return them; nothing in between knows about HTTP.
package fault

import (
	"errors"
	"fmt"
	"strings"
)

// Kind says what sort of failure an error is, independent of transport.
type Kind int

const (
	// Internal is anything not classified: the client sees a generic message.
	Internal Kind = iota
	// Malformed input: the request could not be read (bad JSON, wrong types, unknown fields).
	Malformed
	// Invalid input: the request was read, but a field breaks a rule.
	Invalid
	// Unauthenticated: no or bad credentials.
	Unauthenticated
	// Forbidden: credentials are fine but lack the right.
	Forbidden
	// NotFound: the thing does not exist (or the caller may not know it does).
	NotFound
	// MethodNotAllowed: the path exists but not with this method.
	MethodNotAllowed
	// Conflict: the request clashes with the current state (duplicate key, stale version in body).
	Conflict
	// PreconditionFailed: an If-Match or similar precondition did not hold.
	PreconditionFailed
	// PreconditionRequired: the operation needs a precondition (If-Match) and none was given.
	PreconditionRequired
	// TooLarge: the request body is over the limit.
	TooLarge
	// UnsupportedMediaType: the body is not in a format the function reads.
	UnsupportedMediaType
	// TooManyRequests: the caller is over a rate limit.
	TooManyRequests
	// Unavailable: a dependency is down or the request was cut short; retrying later may work.
	Unavailable
)

// Detail names one field and what is wrong with it.
type Detail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a classified failure with a stable, machine-readable code and a message that is
// safe to show a client.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Details []Detail
	// Err is an underlying cause, kept for logs and errors.Is; never shown to clients.
	Err error
}

// New returns a classified error, typically assigned to a package-level sentinel.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, d := range e.Details {
		fmt.Fprintf(&b, "; %s %s", d.Field, d.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, Sentinel) true for copies made by With and Wrap.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Code == e.Code
}

// With returns a copy of e carrying extra details.
func (e *Error) With(details ...Detail) *Error {
	c := *e
	c.Details = append(append([]Detail(nil), e.Details...), details...)
	return &c
}

// Wrap returns a copy of e with cause attached (for logs and errors.Is on the cause).
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// Withf returns a copy of e with a different client-facing message.
func (e *Error) Withf(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// As returns the classified error in err's chain, if any.
func As(err error) (*Error, bool) {
	var fe *Error
	if errors.As(err, &fe) {
		return fe, true
	}
	return nil, false
}

// KindOf returns the kind of err, Internal when it is not classified.
func KindOf(err error) Kind {
	if fe, ok := As(err); ok {
		return fe.Kind
	}
	return Internal
}

// ErrValidation is the sentinel for field-level rule violations; see Validator.
var ErrValidation = New(Invalid, "validation_failed", "one or more fields are invalid")

// Validator collects field-level violations and turns them into one Invalid error.
type Validator struct {
	details []Detail
}

// Check records message against field unless ok holds.
func (v *Validator) Check(ok bool, field, message string) {
	if !ok {
		v.details = append(v.details, Detail{Field: field, Message: message})
	}
}

// Add records a violation.
func (v *Validator) Add(field, message string) {
	v.details = append(v.details, Detail{Field: field, Message: message})
}

// Err returns nil when nothing was recorded, otherwise ErrValidation with every violation.
func (v *Validator) Err() error {
	if len(v.details) == 0 {
		return nil
	}
	return ErrValidation.With(v.details...)
}
