package function

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/identity"
)

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	retryAfter  int
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

var (
	errInvalidClient    = &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed"}
	errUnsupportedGrant = &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "only grant_type=client_credentials is supported here; customers sign in at /sign-in"}
	errInvalidScope     = &oauthError{status: http.StatusBadRequest, Code: "invalid_scope", Description: "the scope asks for a role the client does not have"}
)

// token is the OAuth2 token endpoint: client credentials only.
func (s *service) token(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.clientCredentials(r)
	noStore(w)
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
		writeOAuthError(w, oe)
		return nil
	case err != nil:
		return err // internal: the fn error body, logged once
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(tok)
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="faas-commerce", charset="UTF-8"`)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(e) // the client went away; nothing left to tell it
}

func (s *service) clientCredentials(r *http.Request) (auth.Token, error) {
	form, err := readForm(r)
	if err != nil {
		return auth.Token{}, err
	}
	id, secret, err := clientAuth(r, form)
	if err != nil {
		return auth.Token{}, err
	}
	grant := form.Get("grant_type")
	if grant == "" {
		return auth.Token{}, invalidRequest("grant_type is required")
	}

	keys := []identity.Key{identity.ClientKey(id, s.accountLimit()), identity.IPKey(s.callerAddress(r), s.addressLimit())}
	if err := s.limiter.Reserve(r.Context(), keys...); err != nil {
		var rl *identity.RateLimited
		if errors.As(err, &rl) {
			return auth.Token{}, &oauthError{status: http.StatusTooManyRequests, Code: "temporarily_unavailable",
				Description: "too many failed attempts; retry later", retryAfter: int(rl.RetryAfter.Seconds())}
		}
		return auth.Token{}, err
	}
	c, err := s.store.AuthenticateClient(r.Context(), id, secret)
	if errors.Is(err, identity.ErrInvalidClient) {
		slog.InfoContext(r.Context(), "client authentication failed")
		return auth.Token{}, errInvalidClient
	}
	if err != nil {
		return auth.Token{}, err
	}
	if err := s.limiter.Release(r.Context(), keys); err != nil {
		return auth.Token{}, err
	}
	if grant != "client_credentials" {
		return auth.Token{}, errUnsupportedGrant
	}
	roles := c.Roles
	if scope := form.Get("scope"); scope != "" {
		roles = nil
		for _, r := range strings.Fields(scope) {
			if !slices.Contains(c.Roles, r) {
				return auth.Token{}, errInvalidScope
			}
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	granted := make([]auth.Role, len(roles))
	for i, r := range roles {
		granted[i] = auth.Role(r)
	}
	return s.issuer.Issue(c.ID, c.ID, granted)
}

// readForm reads an application/x-www-form-urlencoded body; a parameter given twice is an
// error (RFC 6749 §3.2), and so are credentials in the URL.
func readForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("the body must be application/x-www-form-urlencoded")
	}
	if q := r.URL.Query(); q.Has("client_secret") || q.Has("password") {
		return nil, invalidRequest("credentials are never accepted in the URL")
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, invalidRequest("the body could not be read or is too large")
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, invalidRequest("the body is not valid form encoding")
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, invalidRequest("parameter " + strconv.Quote(k) + " is given more than once")
		}
	}
	return form, nil
}

// clientAuth returns the client's id and secret from client_secret_basic or
// client_secret_post; using both, or neither, is an error.
func clientAuth(r *http.Request, form url.Values) (id, secret string, err error) {
	h := r.Header.Get("Authorization")
	inBody := form.Has("client_id") || form.Has("client_secret")
	if h != "" {
		if inBody && form.Has("client_secret") {
			return "", "", invalidRequest("use one client authentication method, not both")
		}
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") || len(cred) > 1024 {
			return "", "", errInvalidClient
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return "", "", errInvalidClient
		}
		encID, encSecret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return "", "", errInvalidClient
		}
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
		if id, err = url.QueryUnescape(encID); err != nil {
			return "", "", errInvalidClient
		}
		if secret, err = url.QueryUnescape(encSecret); err != nil {
			return "", "", errInvalidClient
		}
		if form.Has("client_id") && form.Get("client_id") != id {
			return "", "", invalidRequest("client_id in the body differs from the authenticated client")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" || secret == "" || len(id) > 64 || len(secret) > 256 {
		return "", "", errInvalidClient
	}
	return id, secret, nil
}
