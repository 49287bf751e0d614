package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults shared by the issuer and every verifier.
const (
	DefaultIssuer   = "http://127.0.0.1:8080/function/issue-token"
	DefaultAudience = "faas-commerce"
	DefaultTokenTTL = 15 * time.Minute
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	Leeway = 30 * time.Second
	// TokenType is the JWT typ header of access tokens (RFC 9068 §2.1).
	TokenType = "at+jwt"
)

// Claims are an access token's claims, shaped as RFC 9068: iss, sub, aud, exp, iat, jti,
// client_id, plus the caller's roles (also as a space-separated scope).
type Claims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Roles    []string `json:"roles"`
	Scope    string   `json:"scope,omitempty"`
}

// Issuer signs access tokens with the first of its keys and publishes all of them.
type Issuer struct {
	keys     []SigningKey
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewIssuer returns an Issuer. keys[0] signs; the others stay published for verification
// until their tokens have expired (key rotation).
func NewIssuer(keys []SigningKey, issuer, audience string, ttl time.Duration) (*Issuer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no signing key")
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("issuer and audience are required")
	}
	if ttl <= 0 || ttl > 24*time.Hour {
		return nil, fmt.Errorf("token lifetime %s is not between 0 and 24h", ttl)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.ID] {
			return nil, fmt.Errorf("signing key %s is listed twice", k.ID)
		}
		seen[k.ID] = true
	}
	return &Issuer{keys: keys, issuer: issuer, audience: audience, ttl: ttl, now: time.Now}, nil
}

// Token is a token response (RFC 6749 §5.1).
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// Issue signs an access token for subject, issued to clientID, with roles.
func (i *Issuer) Issue(subject, clientID string, roles []Role) (Token, error) {
	if subject == "" || clientID == "" || len(roles) == 0 {
		return Token{}, errors.New("issue token: subject, client id and roles are required")
	}
	now := i.now().Truncate(time.Second)
	names := make([]string, len(roles))
	for n, r := range roles {
		names[n] = string(r)
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{i.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		ClientID: clientID,
		Roles:    names,
		Scope:    strings.Join(names, " "),
	}
	k := i.keys[0]
	t := jwt.NewWithClaims(k.method(), c)
	t.Header["typ"] = TokenType
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.Private)
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{AccessToken: s, TokenType: "Bearer", ExpiresIn: int64(i.ttl / time.Second), Scope: c.Scope}, nil
}

// PublicKeys are the public halves of every key, active first.
func (i *Issuer) PublicKeys() []PublicKey {
	out := make([]PublicKey, len(i.keys))
	for n, k := range i.keys {
		out[n] = k.PublicKey
	}
	return out
}

// JWKS is the JWK Set of every key the issuer lists.
func (i *Issuer) JWKS() JWKS { return NewJWKS(i.PublicKeys()) }
