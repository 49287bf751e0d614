package function

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/auth/authtest"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/deps"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/identity"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

const form = "application/x-www-form-urlencoded"

type fixture struct {
	app   *fn.App
	kit   *authtest.Kit
	db    *pgtest.DB
	store *identity.Store
}

func newFixture(t *testing.T, env map[string]string) fixture {
	t.Helper()
	db := pgtest.New(t)
	kit := authtest.New(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jwt-signing-keys"), kit.PrivatePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := newService(t.Context(), &deps.Deps{DB: db.Pool}, config.FromMap(env, dir))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{app: newApp(svc), kit: kit, db: db, store: identity.NewStore(db.Pool)}
}

func (f fixture) client(t *testing.T, id string, roles ...string) string {
	t.Helper()
	secret, err := f.store.CreateClient(t.Context(), identity.Client{ID: id, Name: id, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// verify checks a token response with the kit's verifier and returns the caller.
func (f fixture) verify(t *testing.T, resp fntest.Response) (auth.Principal, auth.Token) {
	t.Helper()
	resp.Expect(t, http.StatusOK)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	var tok auth.Token
	resp.Decode(t, &tok)
	p, err := f.kit.Verifier.Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 {
		t.Errorf("token response %+v", tok)
	}
	return p, tok
}

func TestClientCredentials(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.client(t, "connector", "service")
	adminSecret := f.client(t, "ops", "admin", "service")

	p, tok := f.verify(t, fntest.Call(t, f.app, http.MethodPost, "/token", fntest.Raw("grant_type=client_credentials"),
		"Content-Type", form, "Authorization", basic("connector", secret)))
	if p.Subject != "connector" || p.ClientID != "connector" || !p.Has(auth.RoleService) || p.Has(auth.RoleAdmin) || tok.Scope != "service" {
		t.Fatalf("principal %+v, token %+v", p, tok)
	}
	p, _ = f.verify(t, fntest.Call(t, f.app, http.MethodPost, "/token",
		fntest.Raw("grant_type=client_credentials&client_id=ops&client_secret="+url.QueryEscape(adminSecret)), "Content-Type", form))
	if !p.Has(auth.RoleAdmin) || !p.Has(auth.RoleService) {
		t.Fatalf("client_secret_post principal %+v", p)
	}
	p, tok = f.verify(t, fntest.Call(t, f.app, http.MethodPost, "/token", fntest.Raw("grant_type=client_credentials&scope=service"),
		"Content-Type", form, "Authorization", basic("ops", adminSecret)))
	if p.Has(auth.RoleAdmin) || tok.Scope != "service" {
		t.Fatalf("scope=service gave %+v", p)
	}

	cases := []struct {
		name, body, authz string
		headers           []string
		status            int
		code              string
	}{
		{"wrong secret", "grant_type=client_credentials", basic("connector", secret+"x"), nil, 401, "invalid_client"},
		{"unknown client", "grant_type=client_credentials", basic("nobody", secret), nil, 401, "invalid_client"},
		{"no client authentication", "grant_type=client_credentials", "", nil, 401, "invalid_client"},
		{"Bearer instead of Basic", "grant_type=client_credentials", "Bearer " + secret, nil, 401, "invalid_client"},
		{"two authentication methods", "grant_type=client_credentials&client_id=connector&client_secret=" + url.QueryEscape(secret), basic("connector", secret), nil, 400, "invalid_request"},
		{"no grant_type", "scope=service", basic("connector", secret), nil, 400, "invalid_request"},
		{"password grant", "grant_type=password&username=a&password=b", basic("connector", secret), nil, 400, "unsupported_grant_type"},
		{"authorization code grant", "grant_type=authorization_code&code=x", basic("connector", secret), nil, 400, "unsupported_grant_type"},
		{"scope beyond the client's roles", "grant_type=client_credentials&scope=admin", basic("connector", secret), nil, 400, "invalid_scope"},
		{"customer scope", "grant_type=client_credentials&scope=customer", basic("connector", secret), nil, 400, "invalid_scope"},
		{"parameter twice", "grant_type=client_credentials&grant_type=client_credentials", basic("connector", secret), nil, 400, "invalid_request"},
		{"JSON body", `{"grant_type":"client_credentials"}`, basic("connector", secret), []string{"Content-Type", "application/json"}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := append([]string{"Content-Type", form}, c.headers...)
			if c.authz != "" {
				h = append(h, "Authorization", c.authz)
			}
			h = append(h, "X-Forwarded-For", "198.51.100."+string(rune('1'+len(c.name)%8)))
			resp := fntest.Call(t, f.app, http.MethodPost, "/token", fntest.Raw(c.body), h...)
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			resp.Expect(t, c.status).Decode(t, &e)
			if e.Error != c.code || e.Description == "" {
				t.Fatalf("error %+v, want %s", e, c.code)
			}
			if c.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without WWW-Authenticate: Basic")
			}
			if resp.Header.Get("Cache-Control") != "no-store" || bytes.Contains(resp.Body, []byte(secret)) {
				t.Errorf("headers %v body %s", resp.Header, resp.Body)
			}
		})
	}
	t.Run("secret in the query string", func(t *testing.T) {
		fntest.Call(t, f.app, http.MethodPost, "/token?client_secret="+secret, fntest.Raw("grant_type=client_credentials&client_id=connector"), "Content-Type", form).Expect(t, 400)
	})
	t.Run("unknown client and wrong secret answer alike", func(t *testing.T) {
		a := fntest.Call(t, f.app, http.MethodPost, "/token", fntest.Raw("grant_type=client_credentials"), "Content-Type", form, "Authorization", basic("connector", "nope"), "X-Forwarded-For", "203.0.113.9")
		b := fntest.Call(t, f.app, http.MethodPost, "/token", fntest.Raw("grant_type=client_credentials"), "Content-Type", form, "Authorization", basic("ghost", "nope"), "X-Forwarded-For", "203.0.113.9")
		if a.Status != b.Status || !bytes.Equal(a.Body, b.Body) {
			t.Fatalf("%d %s vs %d %s", a.Status, a.Body, b.Status, b.Body)
		}
	})
}

// TestBehindThePublicTokenCheck: deps.Setup puts the token middleware around every function;
// issue-token is public, and its Basic client authentication and sign-in still work there.
func TestBehindThePublicTokenCheck(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.client(t, "connector", "service")
	f.app.Use(auth.Middleware(f.kit.Verifier, true))
	f.verify(t, fntest.Call(t, f.app, http.MethodPost, "/token", fntest.Raw("grant_type=client_credentials"),
		"Content-Type", form, "Authorization", basic("connector", secret)))
	addCustomer(t, f, "ada@example.com", "correct horse battery")
	f.verify(t, fntest.Call(t, f.app, http.MethodPost, "/sign-in", map[string]string{"email": "ada@example.com", "password": "correct horse battery"}))
}

func TestClientBurstsAreLimited(t *testing.T) {
	f := newFixture(t, map[string]string{"AUTH_MAX_FAILURES_PER_ACCOUNT": "3"})
	secret := f.client(t, "connector", "service")
	try := func(s string) fntest.Response {
		return fntest.Call(t, f.app, http.MethodPost, "/token", fntest.Raw("grant_type=client_credentials"), "Content-Type", form, "Authorization", basic("connector", s))
	}
	for range 3 {
		try("guess").Expect(t, 401)
	}
	resp := try(secret).Expect(t, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" || !bytes.Contains(resp.Body, []byte(`"error":"temporarily_unavailable"`)) {
		t.Fatalf("429 headers %v body %s", resp.Header, resp.Body)
	}
}

// addCustomer stores a customer with a password, as register-customer does.
func addCustomer(t *testing.T, f fixture, email, password string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	hash, err := identity.HashSecret(password)
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(context.Background(), f.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "INSERT INTO customers.customers (id, email, name) VALUES ($1, $2, 'C')", id, email); err != nil {
			return err
		}
		return identity.InsertCredential(t.Context(), tx, id, email, hash)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSignIn(t *testing.T) {
	f := newFixture(t, nil)
	id := addCustomer(t, f, "Ada@Example.com", "correct horse battery")
	signIn := func(email, password, ip string) fntest.Response {
		return fntest.Call(t, f.app, http.MethodPost, "/sign-in", map[string]string{"email": email, "password": password}, "X-Forwarded-For", "10.0.0.1, "+ip)
	}
	p, tok := f.verify(t, signIn(" ada@example.com ", "correct horse battery", "192.0.2.1"))
	if p.Subject != id.String() || p.ClientID != "storefront" || len(p.Roles) != 1 || p.Roles[0] != auth.RoleCustomer || tok.Scope != "customer" {
		t.Fatalf("principal %+v", p)
	}
	if got, ok := p.CustomerID(); !ok || got != id {
		t.Fatalf("customer id %v %v", got, ok)
	}

	wrong := signIn("ada@example.com", "correct horse battery!", "192.0.2.1")
	unknown := signIn("bob@example.com", "correct horse battery", "192.0.2.1")
	wrong.ExpectError(t, 401, "invalid_credentials")
	if unknown.Status != wrong.Status || !bytes.Equal(unknown.Body, wrong.Body) {
		t.Fatalf("unknown e-mail %d %s; wrong password %d %s: want the same answer", unknown.Status, unknown.Body, wrong.Status, wrong.Body)
	}

	for name, body := range map[string]string{
		"no password": `{"email":"ada@example.com"}`,
		"no e-mail":   `{"password":"correct horse battery"}`,
	} {
		t.Run(name, func(t *testing.T) {
			fntest.Call(t, f.app, http.MethodPost, "/sign-in", fntest.Raw(body)).ExpectError(t, 422, "validation_failed")
		})
	}
	fntest.Call(t, f.app, http.MethodPost, "/sign-in", fntest.Raw(`{"email":"a@b.c","password":"x","grant_type":"password"}`)).ExpectError(t, 400, "unknown_field")
}

func TestSignInBurstsAreLimited(t *testing.T) {
	f := newFixture(t, map[string]string{"AUTH_MAX_FAILURES_PER_ACCOUNT": "5", "AUTH_MAX_FAILURES_PER_ADDRESS": "8"})
	addCustomer(t, f, "ada@example.com", "correct horse battery")
	signIn := func(email, password, ip string) fntest.Response {
		return fntest.Call(t, f.app, http.MethodPost, "/sign-in", map[string]string{"email": email, "password": password}, "X-Forwarded-For", ip)
	}
	t.Run("per e-mail", func(t *testing.T) {
		for i := range 5 {
			signIn("ada@example.com", "guess number "+string(rune('a'+i)), "192.0.2.10").Expect(t, 401)
		}
		// Over the limit even the right password, from another address, gets 429.
		resp := signIn("ADA@example.com", "correct horse battery", "192.0.2.11")
		resp.ExpectError(t, http.StatusTooManyRequests, "too_many_attempts")
		if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("Retry-After %q", ra)
		}
	})
	t.Run("per address", func(t *testing.T) {
		for i := range 8 {
			signIn("someone"+string(rune('a'+i))+"@example.com", "guess guess guess", "192.0.2.20").Expect(t, 401)
		}
		signIn("fresh@example.com", "guess guess guess", "192.0.2.20").ExpectError(t, http.StatusTooManyRequests, "too_many_attempts")
		signIn("fresh@example.com", "guess guess guess", "192.0.2.21").Expect(t, 401)
	})
	t.Run("successes do not use up the limit", func(t *testing.T) {
		addCustomer(t, f, "grace@example.com", "another good password")
		for range 10 {
			signIn("grace@example.com", "another good password", "192.0.2.30").Expect(t, 200)
		}
	})
}

func TestSetupRejectsBadConfig(t *testing.T) {
	db := pgtest.New(t)
	d := &deps.Deps{DB: db.Pool}
	if _, err := newService(t.Context(), d, config.FromMap(nil, t.TempDir())); err == nil {
		t.Error("no jwt-signing-keys secret: no error")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jwt-signing-keys"), []byte("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newService(t.Context(), d, config.FromMap(nil, dir)); err == nil || strings.Contains(err.Error(), "MAA=") {
		t.Errorf("bad signing key: %v", err)
	}
}
