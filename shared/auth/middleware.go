package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
)

var (
	errNoToken    = ErrUnauthenticated.Withf("a valid access token is required in the Authorization header (Bearer)")
	errBadToken   = ErrUnauthenticated.Withf("the access token is invalid or expired")
	errQueryToken = ErrUnauthenticated.Withf("access tokens are accepted only in the Authorization header, never in the URL")
	errTooLong    = ErrUnauthenticated.Withf("the Authorization header is over %d bytes", MaxTokenLength)
)

// Middleware checks the caller's access token, read only from the Authorization: Bearer
// header, and puts the caller in the request's context (see FromContext and Require).
//
// A protected function (public false) answers 401 with WWW-Authenticate: Bearer and a JSON
// error body to a request without a valid token. A public function lets a request without a
// token through without a principal, and still answers 401 to a token that does not verify.
// A public function also passes an Authorization header of another scheme (Basic) through
// untouched. A token in the URL (access_token, RFC 6750 §2.3) is never read: on a protected function it
// is a 401 with a message saying so; on a public function it is ignored.
func Middleware(v *Verifier, public bool) fn.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			values := r.Header.Values("Authorization")
			if len(values) == 0 {
				if public {
					next.ServeHTTP(w, r)
					return
				}
				if q, _ := url.ParseQuery(r.URL.RawQuery); q.Has("access_token") { // a partly malformed query still yields its good pairs
					deny(w, r, errQueryToken, `Bearer realm="faas-commerce", error="invalid_request", error_description="token in the URL"`)
					return
				}
				deny(w, r, errNoToken, `Bearer realm="faas-commerce"`)
				return
			}
			if len(values) > 1 {
				deny(w, r, errBadToken.Wrap(errors.New("more than one Authorization header")), `Bearer realm="faas-commerce", error="invalid_request"`)
				return
			}
			h := values[0]
			scheme, token, _ := strings.Cut(h, " ")
			bearer := strings.EqualFold(scheme, "Bearer")
			if public && !bearer {
				// Another scheme (client_secret_basic at the token endpoint) is the function's own business.
				next.ServeHTTP(w, r)
				return
			}
			if len(h) > MaxTokenLength {
				deny(w, r, errTooLong, `Bearer realm="faas-commerce", error="invalid_token"`)
				return
			}
			if !bearer || strings.TrimSpace(token) == "" {
				deny(w, r, errBadToken.Wrap(errors.New("not a Bearer credential")), `Bearer realm="faas-commerce", error="invalid_token"`)
				return
			}
			p, err := v.Verify(r.Context(), strings.TrimSpace(token))
			if err != nil {
				deny(w, r, errBadToken.Wrap(err), `Bearer realm="faas-commerce", error="invalid_token"`)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// deny answers 401. The cause goes to the debug log only (it never holds the token).
func deny(w http.ResponseWriter, r *http.Request, err error, challenge string) {
	slog.DebugContext(r.Context(), "access token rejected", "error", err)
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Cache-Control", "no-store")
	if fe, ok := fault.As(err); ok {
		err = fe.Wrap(nil) // the client sees the message; WriteError need not log the cause again
	}
	fn.WriteError(w, r, err)
}

// Settings configure token checks in a function, from env.
type Settings struct {
	// Public lets requests without a token through (declared per function in stack.yml).
	Public bool `env:"AUTH_PUBLIC, default=false"`
	// Issuer is the iss every token must carry.
	Issuer string `env:"AUTH_ISSUER, default=http://127.0.0.1:8080/function/issue-token"`
	// Audience must be in every token's aud.
	Audience string `env:"AUTH_AUDIENCE, default=faas-commerce"`
	// JWKSURL is where the keys are fetched when the jwt-public-keys secret is absent.
	JWKSURL string `env:"AUTH_JWKS_URL, default=http://127.0.0.1:8080/function/jwks"`
	// JWKSMinRefresh is the least time between two JWKS fetches (an unknown kid triggers one).
	JWKSMinRefresh time.Duration `env:"AUTH_JWKS_MIN_REFRESH, default=30s"`
	// JWKSTTL is how long fetched keys are used before they are fetched again.
	JWKSTTL time.Duration `env:"AUTH_JWKS_TTL, default=5m"`
}

// KeySecrets are the optional secret files a verifier reads.
type KeySecrets struct {
	// PublicKeys (secret jwt-public-keys): PEM public keys; when present they are the only
	// keys trusted and the JWKS URL is not used.
	PublicKeys string `env:"jwt_public_keys"`
}

// NewVerifierFromEnv builds a Verifier from src: keys from the jwt-public-keys secret when it
// exists, else from the JWKS URL.
func NewVerifierFromEnv(ctx context.Context, src config.Source) (*Verifier, Settings, error) {
	var (
		s   Settings
		sec KeySecrets
	)
	if err := src.Load(ctx, &s, &sec); err != nil {
		return nil, s, fmt.Errorf("auth settings: %w", err)
	}
	if s.Issuer == "" || s.Audience == "" {
		return nil, s, errors.New("auth settings: AUTH_ISSUER and AUTH_AUDIENCE must not be empty")
	}
	if sec.PublicKeys != "" {
		keys, err := ParsePublicKeys([]byte(sec.PublicKeys))
		if err != nil {
			return nil, s, fmt.Errorf("secret jwt-public-keys: %w", err)
		}
		return NewVerifier(NewStaticKeys(keys), s.Issuer, s.Audience), s, nil
	}
	u, err := url.Parse(s.JWKSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, s, errors.New("auth settings: AUTH_JWKS_URL must be an http(s) URL")
	}
	rk := NewRemoteKeys(s.JWKSURL, nil)
	rk.MinRefresh, rk.TTL = s.JWKSMinRefresh, s.JWKSTTL
	return NewVerifier(rk, s.Issuer, s.Audience), s, nil
}

// FromEnv builds the token-checking middleware of a function from src (see Settings and
// KeySecrets); deps.Setup applies it to every App.
func FromEnv(ctx context.Context, src config.Source) (fn.Middleware, error) {
	v, s, err := NewVerifierFromEnv(ctx, src)
	if err != nil {
		return nil, err
	}
	return Middleware(v, s.Public), nil
}
