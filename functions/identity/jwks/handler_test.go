package function

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/auth/authtest"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
)

func TestJWKS(t *testing.T) {
	kit := authtest.New(t)
	for _, secret := range []string{"jwt-signing-keys", "jwt-public-keys"} {
		t.Run("from "+secret, func(t *testing.T) {
			dir := t.TempDir()
			text := kit.PrivatePEM
			if secret == "jwt-public-keys" {
				text = kit.PublicPEM
			}
			if err := os.WriteFile(filepath.Join(dir, secret), text, 0o600); err != nil {
				t.Fatal(err)
			}
			keys, err := loadKeys(t.Context(), config.FromMap(nil, dir))
			if err != nil {
				t.Fatal(err)
			}
			app, err := newApp(keys)
			if err != nil {
				t.Fatal(err)
			}
			resp := fntest.Call(t, app, http.MethodGet, "/", nil).Expect(t, http.StatusOK)
			if resp.Header.Get("Content-Type") != "application/jwk-set+json" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			resp.Decode(t, &set)
			if len(set.Keys) != 2 {
				t.Fatalf("%d keys, want 2", len(set.Keys))
			}
			for i, k := range set.Keys {
				if k["kid"] != kit.Keys[i].ID || k["alg"] != kit.Keys[i].Alg || k["use"] != "sig" || k["kty"] == "" {
					t.Errorf("key %d: %v", i, k)
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
					if _, ok := k[private]; ok {
						t.Errorf("key %d publishes private member %s", i, private)
					}
				}
			}
			if strings.Contains(string(resp.Body), "PRIVATE") {
				t.Error("private key material in the JWKS")
			}
		})
	}

	t.Run("verifiers trust tokens of every published key", func(t *testing.T) {
		keys := []auth.PublicKey{kit.Keys[0].PublicKey, kit.Keys[1].PublicKey}
		app, err := newApp(keys)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(app)
		t.Cleanup(srv.Close)
		v := auth.NewVerifier(auth.NewRemoteKeys(srv.URL, srv.Client()), authtest.Issuer, authtest.Audience)
		for _, k := range kit.Keys {
			if _, err := v.Verify(t.Context(), authtest.Sign(t, k, authtest.Claims("svc", auth.RoleService), nil)); err != nil {
				t.Errorf("key %s: %v", k.ID, err)
			}
		}
		if _, err := v.Verify(t.Context(), authtest.Sign(t, kit.Retired, authtest.Claims("svc", auth.RoleService), nil)); err == nil {
			t.Error("a retired key's token verified")
		}
	})

	t.Run("no keys", func(t *testing.T) {
		if _, err := loadKeys(t.Context(), config.FromMap(nil, t.TempDir())); err == nil {
			t.Fatal("no error without keys")
		}
	})
}
