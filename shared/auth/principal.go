// Package auth is who is calling and what they may do. A verified access token becomes a
// Principal in the request's context (the token check plugs into every function as middleware);
// handlers ask the Principal, never the token.
package auth

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

// Role is a coarse right carried by a token.
type Role string

// The platform's roles.
const (
	// RoleAdmin manages the catalog and stock and may read everything.
	RoleAdmin Role = "admin"
	// RoleCustomer is a signed-in shopper: their own record and orders only.
	RoleCustomer Role = "customer"
	// RoleService is another part of the platform (the connector, a function calling a function).
	RoleService Role = "service"
)

// Principal is a verified caller.
type Principal struct {
	// Subject is the token's sub: a customer id for customers, the client id for clients.
	Subject string
	// ClientID is the OAuth2 client the token was issued to.
	ClientID string
	// Roles are the caller's roles.
	Roles []Role
}

// Has reports whether p has any of roles.
func (p Principal) Has(roles ...Role) bool {
	return slices.ContainsFunc(roles, func(r Role) bool { return slices.Contains(p.Roles, r) })
}

// CustomerID is the customer a customer token speaks for; ok is false for any other caller.
func (p Principal) CustomerID() (uuid.UUID, bool) {
	if !p.Has(RoleCustomer) {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(p.Subject)
	return id, err == nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p (set by the token middleware, and by tests).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, if the request was authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

var (
	// ErrUnauthenticated: no verified caller.
	ErrUnauthenticated = fault.New(fault.Unauthenticated, "unauthenticated", "a valid access token is required")
	// ErrForbidden: the caller lacks the right.
	ErrForbidden = fault.New(fault.Forbidden, "forbidden", "the caller may not do this")
)

// Require returns the caller when it has one of roles: ErrUnauthenticated without a caller,
// ErrForbidden without the role.
func Require(ctx context.Context, roles ...Role) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	if !p.Has(roles...) {
		return Principal{}, ErrForbidden
	}
	return p, nil
}

// ActsFor reports whether p may see and change what belongs to customerID: an admin for
// anyone, a customer for themselves only. Callers answer "not found" otherwise, so that a
// record's existence is not revealed either.
func (p Principal) ActsFor(customerID uuid.UUID) bool {
	if p.Has(RoleAdmin) {
		return true
	}
	id, ok := p.CustomerID()
	return ok && id == customerID
}
