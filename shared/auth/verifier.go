package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KeySource finds the verification key a token's kid names.
type KeySource interface {
	// Key returns the key with id kid, or ErrUnknownKey.
	Key(ctx context.Context, kid string) (PublicKey, error)
}

// ErrUnknownKey: no key has the token's kid.
var ErrUnknownKey = errors.New("unknown key id")

// StaticKeys is a fixed set of keys (from the jwt-public-keys secret, or tests).
type StaticKeys map[string]PublicKey

// NewStaticKeys indexes keys by kid.
func NewStaticKeys(keys []PublicKey) StaticKeys {
	s := make(StaticKeys, len(keys))
	for _, k := range keys {
		s[k.ID] = k
	}
	return s
}

// Key returns the key named kid.
func (s StaticKeys) Key(_ context.Context, kid string) (PublicKey, error) {
	k, ok := s[kid]
	if !ok {
		return PublicKey{}, ErrUnknownKey
	}
	return k, nil
}

// MaxTokenLength caps the Authorization header a verifier reads (8 KiB).
const MaxTokenLength = 8 << 10

// Verifier checks access tokens: signature by a known key (kid required, alg fixed by the
// key), typ at+jwt, iss, aud, exp (required), nbf and iat, with Leeway.
type Verifier struct {
	keys     KeySource
	issuer   string
	audience string
	now      func() time.Time
}

// NewVerifier returns a Verifier of tokens from issuer for audience.
func NewVerifier(keys KeySource, issuer, audience string) *Verifier {
	return &Verifier{keys: keys, issuer: issuer, audience: audience, now: time.Now}
}

// errInvalid is the one cause a caller sees; details go to debug logs only.
var errInvalid = errors.New("invalid access token")

// Verify checks raw and returns its caller. Every failure wraps ErrUnauthenticated.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	p, err := v.verify(ctx, raw)
	if err != nil {
		return Principal{}, ErrUnauthenticated.Wrap(err)
	}
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (Principal, error) {
	if len(raw) > MaxTokenLength {
		return Principal{}, fmt.Errorf("%w: over %d bytes", errInvalid, MaxTokenLength)
	}
	if strings.Count(raw, ".") != 2 {
		return Principal{}, fmt.Errorf("%w: not a signed JWT", errInvalid)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods(ValidAlgs),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	var c Claims
	_, err := parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		typ, ok := t.Header["typ"].(string)
		if !ok || !(strings.EqualFold(typ, TokenType) || strings.EqualFold(typ, "application/"+TokenType)) {
			return nil, errors.New("typ is not at+jwt")
		}
		kid, ok := t.Header["kid"].(string)
		if !ok || !kidPattern.MatchString(kid) {
			return nil, errors.New("kid missing or malformed")
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header not supported")
		}
		k, err := v.keys.Key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if t.Method.Alg() != k.Alg {
			return nil, fmt.Errorf("alg %s does not fit key %s", t.Method.Alg(), kid)
		}
		return k.Key, nil
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", errInvalid, err)
	}
	if c.Subject == "" || c.ClientID == "" || c.IssuedAt == nil {
		return Principal{}, fmt.Errorf("%w: sub, client_id and iat are required", errInvalid)
	}
	p := Principal{Subject: c.Subject, ClientID: c.ClientID, Roles: make([]Role, 0, len(c.Roles))}
	for _, r := range c.Roles {
		if !slices.Contains([]Role{RoleAdmin, RoleCustomer, RoleService}, Role(r)) {
			return Principal{}, fmt.Errorf("%w: unknown role", errInvalid)
		}
		p.Roles = append(p.Roles, Role(r))
	}
	return p, nil
}
