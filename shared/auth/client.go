package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/config"
)

// ClientCredentials gets access tokens with the OAuth2 client credentials grant (RFC 6749
// §4.4, client_secret_basic) and caches each until shortly before it expires. It is also an
// http.RoundTripper that adds the token to every request and, when the answer is 401, fetches
// a fresh token and retries once (the token may have been signed by a key retired meanwhile).
type ClientCredentials struct {
	// TokenURL is the token endpoint, e.g. http://127.0.0.1:8080/function/issue-token/token.
	TokenURL string
	// ClientID and ClientSecret authenticate the client; the secret never appears in errors.
	ClientID     string
	ClientSecret string
	// Scope, when set, asks for a subset of the client's roles.
	Scope string
	// HTTPClient fetches tokens; nil means a client with a 10-second timeout.
	HTTPClient *http.Client
	// Base sends the requests RoundTrip authorises; nil means http.DefaultTransport.
	Base http.RoundTripper

	now     func() time.Time
	mu      sync.Mutex
	token   string
	expires time.Time
}

// ClientSettings configure a service client from env and secrets.
type ClientSettings struct {
	// TokenURL is the token endpoint.
	TokenURL string `env:"AUTH_TOKEN_URL, default=http://127.0.0.1:8080/function/issue-token/token"`
}

// ClientSecrets are the client's credentials (secrets auth-client-id and auth-client-secret).
type ClientSecrets struct {
	ClientID     string `env:"auth_client_id, required"`
	ClientSecret string `env:"auth_client_secret, required"`
}

// ClientCredentialsFromEnv builds a ClientCredentials from AUTH_TOKEN_URL and the secrets
// auth-client-id and auth-client-secret.
func ClientCredentialsFromEnv(ctx context.Context, src config.Source) (*ClientCredentials, error) {
	var (
		s   ClientSettings
		sec ClientSecrets
	)
	if err := src.Load(ctx, &s, &sec); err != nil {
		return nil, fmt.Errorf("client credentials: %w", err)
	}
	return &ClientCredentials{TokenURL: s.TokenURL, ClientID: sec.ClientID, ClientSecret: sec.ClientSecret}, nil
}

// refreshMargin is how long before expiry a cached token is replaced.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(time.Minute, lifetime/5)
}

// Token returns a valid access token, from the cache when it has one.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.token != "" && now.Before(c.expires) {
		return c.token, nil
	}
	t, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}
	life := time.Duration(t.ExpiresIn) * time.Second
	c.token, c.expires = t.AccessToken, now.Add(life-refreshMargin(life))
	return c.token, nil
}

// Invalidate drops the cached token if it is still token.
func (c *ClientCredentials) Invalidate(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

func (c *ClientCredentials) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// TokenError is an OAuth2 error response from the token endpoint.
type TokenError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token endpoint answered %d %s: %s", e.Status, e.Code, e.Description)
}

func (c *ClientCredentials) fetch(ctx context.Context) (Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.Scope != "" {
		form.Set("scope", c.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Token{}, fmt.Errorf("read token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		te := &TokenError{Status: resp.StatusCode}
		_ = json.Unmarshal(b, te) // a body that is not an OAuth2 error still yields the status
		return Token{}, te
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return Token{}, fmt.Errorf("decode token response: %w", err)
	}
	if t.AccessToken == "" || !strings.EqualFold(t.TokenType, "Bearer") || t.ExpiresIn <= 0 {
		return Token{}, errors.New("token response lacks access_token, a Bearer token_type or expires_in")
	}
	return t, nil
}

// RoundTrip sends req with the client's token; on 401 it fetches a new token and sends req
// once more when its body can be replayed.
func (c *ClientCredentials) RoundTrip(req *http.Request) (*http.Response, error) {
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	tok, err := c.Token(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	c.Invalidate(tok)
	tok, err = c.Token(req.Context())
	if err != nil {
		return resp, nil //nolint:nilerr // keep the 401 the caller would have seen
	}
	r = req.Clone(req.Context())
	if req.Body != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return resp, nil //nolint:nilerr // as above
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.Header.Set("Authorization", "Bearer "+tok)
	return base.RoundTrip(r)
}
