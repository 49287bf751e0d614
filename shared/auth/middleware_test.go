package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/auth/authtest"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
)

// whoami is a trivial function that answers with its caller.
func whoami(mw fn.Middleware) *fn.App {
	return fn.New("whoami", fn.WithMiddleware(mw)).Route("GET /{$}", func(w http.ResponseWriter, r *http.Request) error {
		p, ok := auth.FromContext(r.Context())
		fn.JSON(w, http.StatusOK, map[string]any{"authenticated": ok, "sub": p.Subject, "roles": p.Roles})
		return nil
	}).Route("GET /admin", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := auth.Require(r.Context(), auth.RoleAdmin); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func TestAttackMatrix(t *testing.T) {
	kit := authtest.New(t)
	app := whoami(auth.Middleware(kit.Verifier, false))
	kit.RunMatrixOn(t, app, http.MethodGet, "/", nil, "0193a8f4-0000-7000-8000-000000000001", []auth.Role{auth.RoleCustomer})
}

func TestProtected(t *testing.T) {
	kit := authtest.New(t)
	app := whoami(auth.Middleware(kit.Verifier, false))

	var got struct {
		Authenticated bool
		Sub           string
		Roles         []string
	}
	fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", kit.Bearer(t, "c-1", auth.RoleCustomer)).Expect(t, 200).Decode(t, &got)
	if !got.Authenticated || got.Sub != "c-1" || len(got.Roles) != 1 || got.Roles[0] != "customer" {
		t.Fatalf("principal %+v", got)
	}
	// The attack matrix's baseline claims, signed as they are, verify.
	fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", "Bearer "+authtest.Sign(t, kit.Keys[0], authtest.Claims("c-1", auth.RoleCustomer), nil)).Expect(t, 200)
	// A token signed by the second (RSA) key of a rotation verifies too.
	rsaToken := authtest.Sign(t, kit.Keys[1], authtest.Claims("svc", auth.RoleService), nil)
	fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", "bearer "+rsaToken).Expect(t, 200)

	resp := fntest.Call(t, app, http.MethodGet, "/", nil)
	resp.ExpectError(t, 401, "unauthenticated")
	if resp.Header.Get("WWW-Authenticate") != `Bearer realm="faas-commerce"` {
		t.Errorf("challenge %q", resp.Header.Get("WWW-Authenticate"))
	}
	resp = fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", "Bearer x.y.z")
	resp.ExpectError(t, 401, "unauthenticated")
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("challenge %q", resp.Header.Get("WWW-Authenticate"))
	}
	e := fntest.Call(t, app, http.MethodGet, "/?access_token="+kit.Token(t, "c-1", auth.RoleCustomer), nil).ExpectError(t, 401, "unauthenticated")
	if !strings.Contains(e.Message, "Authorization header") {
		t.Errorf("query token message %q", e.Message)
	}

	fntest.Call(t, app, http.MethodGet, "/admin", nil, "Authorization", kit.Bearer(t, "c-1", auth.RoleCustomer)).ExpectError(t, 403, "forbidden")
	fntest.Call(t, app, http.MethodGet, "/admin", nil, "Authorization", kit.Bearer(t, "root", auth.RoleAdmin)).Expect(t, 204)

	t.Run("a token with a role the platform does not know", func(t *testing.T) {
		c := authtest.Claims("x", auth.RoleCustomer)
		c["roles"] = []any{"superuser"}
		fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", "Bearer "+authtest.Sign(t, kit.Keys[0], c, nil)).Expect(t, 401)
	})
	t.Run("alg that does not fit the key", func(t *testing.T) {
		// An RS256 token naming the Ed25519 key's kid.
		tok := authtest.Sign(t, kit.Keys[1], authtest.Claims("x", auth.RoleCustomer), func(h map[string]any) { h["kid"] = kit.Keys[0].ID })
		fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", "Bearer "+tok).Expect(t, 401)
	})
	t.Run("two Authorization headers", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Add("Authorization", kit.Bearer(t, "a", auth.RoleAdmin))
		r.Header.Add("Authorization", kit.Bearer(t, "b", auth.RoleAdmin))
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		if w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestPublic(t *testing.T) {
	kit := authtest.New(t)
	app := whoami(auth.Middleware(kit.Verifier, true))
	var got struct{ Authenticated bool }
	fntest.Call(t, app, http.MethodGet, "/", nil).Expect(t, 200).Decode(t, &got)
	if got.Authenticated {
		t.Fatal("a request without a token has a principal")
	}
	fntest.Call(t, app, http.MethodGet, "/?access_token="+kit.Token(t, "a", auth.RoleAdmin), nil).Expect(t, 200).Decode(t, &got)
	if got.Authenticated {
		t.Fatal("a token in the query string was read")
	}
	fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", kit.Bearer(t, "a", auth.RoleAdmin)).Expect(t, 200).Decode(t, &got)
	if !got.Authenticated {
		t.Fatal("a valid token gave no principal")
	}
	// Basic credentials are the function's business (the token endpoint reads them).
	fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", "Basic Y29ubmVjdG9yOnNlY3JldA==").Expect(t, 200).Decode(t, &got)
	if got.Authenticated {
		t.Fatal("Basic credentials gave a principal")
	}
	for _, a := range kit.Attacks(t, "a", auth.RoleAdmin) {
		if a.Authorization == "" || strings.HasPrefix(a.Authorization, "Basic") {
			continue
		}
		t.Run(a.Name, func(t *testing.T) {
			fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", a.Authorization).Expect(t, 401)
		})
	}
}

func TestIssuedTokenShape(t *testing.T) {
	kit := authtest.New(t)
	tok, err := kit.Issuer.Issue("c-1", "web", []auth.Role{auth.RoleCustomer})
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.Scope != "customer" {
		t.Fatalf("token response %+v", tok)
	}
	parts := strings.Split(tok.AccessToken, ".")
	var h, c map[string]any
	for i, v := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	if h["typ"] != "at+jwt" || h["alg"] != "EdDSA" || h["kid"] != kit.Keys[0].ID {
		t.Errorf("header %v", h)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "roles", "scope"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing: %v", k, c)
		}
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 900 {
		t.Errorf("lifetime %v s", exp-iat)
	}
}

func TestFromEnv(t *testing.T) {
	kit := authtest.New(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jwt-public-keys"), kit.PublicPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	mw, err := auth.FromEnv(t.Context(), config.FromMap(map[string]string{}, dir))
	if err != nil {
		t.Fatal(err)
	}
	app := whoami(mw)
	fntest.Call(t, app, http.MethodGet, "/", nil).Expect(t, 401)
	fntest.Call(t, app, http.MethodGet, "/", nil, "Authorization", kit.Bearer(t, "a", auth.RoleAdmin)).Expect(t, 200)

	mw, err = auth.FromEnv(t.Context(), config.FromMap(map[string]string{"AUTH_PUBLIC": "true"}, dir))
	if err != nil {
		t.Fatal(err)
	}
	fntest.Call(t, whoami(mw), http.MethodGet, "/", nil).Expect(t, 200)

	// Without the secret the keys come from the JWKS URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(kit.Issuer.JWKS())
	}))
	t.Cleanup(srv.Close)
	mw, err = auth.FromEnv(t.Context(), config.FromMap(map[string]string{"AUTH_JWKS_URL": srv.URL}, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	fntest.Call(t, whoami(mw), http.MethodGet, "/", nil, "Authorization", kit.Bearer(t, "a", auth.RoleAdmin)).Expect(t, 200)

	for name, env := range map[string]map[string]string{
		"bad public flag": {"AUTH_PUBLIC": "maybe"},
		"bad JWKS URL":    {"AUTH_JWKS_URL": "file:///etc/passwd"},
		"empty issuer":    {"AUTH_ISSUER": ""},
	} {
		if _, err := auth.FromEnv(t.Context(), config.FromMap(env, t.TempDir())); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "jwt-public-keys"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.FromEnv(t.Context(), config.FromMap(nil, bad)); err == nil {
		t.Error("a bad jwt-public-keys secret gave no error")
	}
}
