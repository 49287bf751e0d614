package function

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/identity"
)

// signInRequest is a customer's sign-in.
type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signIn exchanges a customer's e-mail and password for an access token. An unknown e-mail
// and a wrong password get the same 401 after the same hash work; failures are rate limited
// per e-mail and per caller address (429 with Retry-After).
func (s *service) signIn(w http.ResponseWriter, r *http.Request) error {
	noStore(w)
	var in signInRequest
	if err := fn.Decode(r, &in); err != nil {
		return err
	}
	in.Email = strings.TrimSpace(in.Email)
	var v fault.Validator
	v.Check(in.Email != "" && len(in.Email) <= customers.MaxEmailLength, "email", "is required, at most 254 bytes")
	v.Check(in.Password != "" && len(in.Password) <= 4*identity.MaxPasswordLength, "password", "is required, at most 128 characters")
	if err := v.Err(); err != nil {
		return err
	}
	keys := []identity.Key{identity.EmailKey(in.Email, s.accountLimit()), identity.IPKey(s.callerAddress(r), s.addressLimit())}
	if err := s.limiter.Reserve(r.Context(), keys...); err != nil {
		var rl *identity.RateLimited
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds())))
		}
		return err
	}
	c, err := s.store.SignIn(r.Context(), in.Email, in.Password)
	if errors.Is(err, identity.ErrInvalidCredentials) {
		slog.InfoContext(r.Context(), "sign-in failed")
	}
	if err != nil {
		return err
	}
	if err := s.limiter.Release(r.Context(), keys, keys[0]); err != nil {
		return err
	}
	tok, err := s.issuer.Issue(customerSubject(c.ID), s.settings.SignInClientID, []auth.Role{auth.RoleCustomer})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(tok)
}

func customerSubject(id uuid.UUID) string { return id.String() }
