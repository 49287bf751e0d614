// Package function is issue-token, the identity context's token endpoint:
//
//   - POST /token: OAuth2 client credentials grant (RFC 6749 §4.4) for admin and service
//     clients, authenticated with client_secret_basic or client_secret_post.
//   - POST /sign-in: a customer's e-mail and password (JSON) for the same kind of token, with
//     sub = the customer id and roles [customer]. There is no OAuth2 password grant (RFC 9700).
//
// Tokens are RFC 9068 JWTs signed with the first key of the jwt-signing-keys secret. Failed
// attempts are rate limited per client or e-mail and per caller address.
package function

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/identity"
)

// Settings are issue-token's env.
type Settings struct {
	// Issuer is the iss of every token (the URL of this function through the gateway).
	Issuer string `env:"AUTH_ISSUER, default=http://127.0.0.1:8080/function/issue-token"`
	// Audience is the aud of every token.
	Audience string `env:"AUTH_AUDIENCE, default=faas-commerce"`
	// TokenTTL is an access token's lifetime.
	TokenTTL time.Duration `env:"AUTH_TOKEN_TTL, default=15m"`
	// SignInClientID is the client_id of tokens from /sign-in (the storefront).
	SignInClientID string `env:"AUTH_SIGN_IN_CLIENT_ID, default=storefront"`
	// MaxFailuresPerAccount is how many failed attempts one e-mail or client id may make per
	// window before it gets 429.
	MaxFailuresPerAccount int `env:"AUTH_MAX_FAILURES_PER_ACCOUNT, default=5"`
	// MaxFailuresPerAddress is the same for one caller address.
	MaxFailuresPerAddress int `env:"AUTH_MAX_FAILURES_PER_ADDRESS, default=50"`
	// FailureWindow is the window of both limits.
	FailureWindow time.Duration `env:"AUTH_FAILURE_WINDOW, default=15m"`
	// TrustedProxyHops is how many proxies in front of the function append to
	// X-Forwarded-For (the gateway: 1); the caller's address is that many entries from the end.
	TrustedProxyHops int `env:"AUTH_TRUSTED_PROXY_HOPS, default=1"`
}

// Secrets are issue-token's secrets.
type Secrets struct {
	// SigningKeys (secret jwt-signing-keys): PEM private keys, the first signs.
	SigningKeys string `env:"jwt_signing_keys, required"`
}

var app = deps.Setup(func(ctx context.Context, d *deps.Deps) (*fn.App, error) {
	svc, err := newService(ctx, d, d.Source)
	if err != nil {
		return nil, err
	}
	return newApp(svc), nil
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

// service is what both endpoints need.
type service struct {
	store    *identity.Store
	limiter  *identity.Limiter
	issuer   *auth.Issuer
	settings Settings
}

func newService(ctx context.Context, d *deps.Deps, src config.Source) (*service, error) {
	var (
		s   Settings
		sec Secrets
	)
	if err := src.Load(ctx, &s, &sec); err != nil {
		return nil, err
	}
	if s.MaxFailuresPerAccount < 1 || s.MaxFailuresPerAddress < 1 || s.FailureWindow <= 0 || s.TrustedProxyHops < 0 {
		return nil, errors.New("AUTH_MAX_FAILURES_*, AUTH_FAILURE_WINDOW and AUTH_TRUSTED_PROXY_HOPS must be positive")
	}
	keys, err := auth.ParsePrivateKeys([]byte(sec.SigningKeys))
	if err != nil {
		return nil, fmt.Errorf("secret jwt-signing-keys: %w", err)
	}
	iss, err := auth.NewIssuer(keys, s.Issuer, s.Audience, s.TokenTTL)
	if err != nil {
		return nil, err
	}
	return &service{store: identity.NewStore(d.DB), limiter: identity.NewLimiter(d.DB), issuer: iss, settings: s}, nil
}

func newApp(s *service) *fn.App {
	return fn.New("issue-token", fn.WithBodyLimit(16<<10)).
		Route("POST /token", s.token).
		Route("POST /sign-in", s.signIn)
}

func (s *service) accountLimit() identity.Limit {
	return identity.Limit{Max: s.settings.MaxFailuresPerAccount, Window: s.settings.FailureWindow}
}

func (s *service) addressLimit() identity.Limit {
	return identity.Limit{Max: s.settings.MaxFailuresPerAddress, Window: s.settings.FailureWindow}
}

// callerAddress is the caller's address as the trusted proxy nearest the function saw it:
// the entry TrustedProxyHops from the end of X-Forwarded-For ("unknown" without one).
func (s *service) callerAddress(r *http.Request) string {
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	n := s.settings.TrustedProxyHops
	if n == 0 {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return "unknown"
	}
	if len(hops) < n {
		return "unknown"
	}
	if ip := net.ParseIP(hops[len(hops)-n]); ip != nil {
		return ip.String()
	}
	return "unknown"
}

// noStore marks a response that must not be cached (RFC 6749 §5.1).
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}
