package function

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/fn"
)

// TestTokensAcrossFunctions runs the whole flow over HTTP: a service client gets a token with
// client credentials, a customer signs in, and a protected function that knows only the JWKS
// URL accepts both tokens and refuses a call without one.
func TestTokensAcrossFunctions(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.client(t, "connector", "service")
	addCustomer(t, f, "ada@example.com", "correct horse battery")
	f.app.Use(auth.Middleware(f.kit.Verifier, true))
	tokenSrv := httptest.NewServer(f.app)
	t.Cleanup(tokenSrv.Close)

	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(f.kit.Issuer.JWKS())
	}))
	t.Cleanup(jwksSrv.Close)
	mw, err := auth.FromEnv(t.Context(), config.FromMap(map[string]string{"AUTH_JWKS_URL": jwksSrv.URL}, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	protected := fn.New("whoami", fn.WithMiddleware(mw)).Route("GET /{$}", func(w http.ResponseWriter, r *http.Request) error {
		p, err := auth.Require(r.Context(), auth.RoleService, auth.RoleCustomer)
		if err != nil {
			return err
		}
		fn.JSON(w, http.StatusOK, map[string]any{"sub": p.Subject, "roles": p.Roles})
		return nil
	})
	api := httptest.NewServer(protected)
	t.Cleanup(api.Close)

	cc := &auth.ClientCredentials{TokenURL: tokenSrv.URL + "/token", ClientID: "connector", ClientSecret: secret}
	resp, err := (&http.Client{Transport: cc}).Get(api.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("service call: %d", resp.StatusCode)
	}

	resp, err = http.Post(tokenSrv.URL+"/sign-in", "application/json", strings.NewReader(`{"email":"ada@example.com","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok auth.Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("customer call: %d", resp.StatusCode)
	}

	if resp, err = http.Get(api.URL + "/"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("call without a token: %d %v", resp.StatusCode, resp.Header)
	}
}
