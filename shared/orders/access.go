package orders

import (
	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/auth"
)

// Visible reports whether p may see an order of customerID: admins see every order, a
// customer only their own. Callers answer ErrNotFound otherwise, so an order's existence is
// not revealed either.
func Visible(p auth.Principal, customerID uuid.UUID) bool { return p.ActsFor(customerID) }

// ListScope is the customer whose orders p may list when asking for requested (nil: no
// choice): an admin lists whomever they ask for (nil: everyone), a customer only themselves,
// and asking for anyone else is auth.ErrForbidden.
func ListScope(p auth.Principal, requested *uuid.UUID) (*uuid.UUID, error) {
	if p.Has(auth.RoleAdmin) {
		return requested, nil
	}
	id, ok := p.CustomerID()
	if !ok || (requested != nil && *requested != id) {
		return nil, auth.ErrForbidden
	}
	return &id, nil
}
