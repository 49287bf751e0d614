// Package authtest mints access tokens with test keys, good and bad, and runs the attack
// matrix (every way a token must fail) against a protected handler. In a function's test:
//
//	kit := authtest.New(t)
//	app := newApp(store).Use(auth.Middleware(kit.Verifier, false))
//	kit.RunMatrixOn(t, app, http.MethodGet, "/"+id.String(), nil, id.String(), []auth.Role{auth.RoleCustomer})
//
// Every attack must get 401 and the last call, with a valid token for the subject and roles
// given, a 2xx. For a function built by deps.Setup from env, write kit.PublicPEM to the
// jwt-public-keys secret file instead.
package authtest

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
)

// Issuer and Audience of test tokens (the platform's defaults).
const (
	Issuer   = auth.DefaultIssuer
	Audience = auth.DefaultAudience
)

// Kit is a set of test keys: an active Ed25519 key and a second, RSA key that verifiers also
// trust (as during a rotation), plus a retired key that they no longer trust.
type Kit struct {
	// Keys are the signing keys, active first.
	Keys []auth.SigningKey
	// Retired is a key that was rotated out: verifiers do not know it.
	Retired auth.SigningKey
	// PrivatePEM is the jwt-signing-keys secret for Keys; PublicPEM the jwt-public-keys secret.
	PrivatePEM, PublicPEM []byte
	// Issuer signs with Keys[0].
	Issuer *auth.Issuer
	// Verifier trusts Keys (not Retired).
	Verifier *auth.Verifier

	iss, aud string
}

var keysOnce = sync.OnceValues(func() ([]auth.SigningKey, error) {
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	_, retired, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var pemText []byte
	for _, k := range []any{edPriv, rsaPriv, retired} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		pemText = append(pemText, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	return auth.ParsePrivateKeys(pemText)
})

// New returns a Kit; the keys are generated once per test binary.
func New(t testing.TB) *Kit {
	t.Helper()
	all, err := keysOnce()
	if err != nil {
		t.Fatalf("authtest: keys: %v", err)
	}
	return build(t, &Kit{Keys: all[:2], Retired: all[2], iss: Issuer, aud: Audience})
}

// NewWith returns a Kit that signs with keys (active first: a running platform's own signing
// keys) for issuer and audience, so its tokens and attacks hold against that platform. Its
// Retired key is a fresh key the platform has never seen.
func NewWith(t testing.TB, keys []auth.SigningKey, issuer, audience string) *Kit {
	t.Helper()
	if len(keys) == 0 {
		t.Fatal("authtest: NewWith needs at least one signing key")
	}
	all, err := keysOnce()
	if err != nil {
		t.Fatalf("authtest: keys: %v", err)
	}
	return build(t, &Kit{Keys: keys, Retired: all[2], iss: issuer, aud: audience})
}

func build(t testing.TB, k *Kit) *Kit {
	t.Helper()
	var err error
	for _, s := range k.Keys {
		der, err := x509.MarshalPKCS8PrivateKey(s.Private)
		if err != nil {
			t.Fatalf("authtest: %v", err)
		}
		k.PrivatePEM = append(k.PrivatePEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	pubs := make([]auth.PublicKey, len(k.Keys))
	for i, s := range k.Keys {
		pubs[i] = s.PublicKey
	}
	if k.PublicPEM, err = auth.EncodePublicKeys(pubs); err != nil {
		t.Fatalf("authtest: %v", err)
	}
	if k.Issuer, err = auth.NewIssuer(k.Keys, k.iss, k.aud, auth.DefaultTokenTTL); err != nil {
		t.Fatalf("authtest: %v", err)
	}
	k.Verifier = auth.NewVerifier(auth.NewStaticKeys(pubs), k.iss, k.aud)
	return k
}

// Claims returns the claims of a valid token of this Kit (its issuer and audience) for
// subject with roles, to edit and Sign.
func (k *Kit) Claims(subject string, roles ...auth.Role) jwt.MapClaims {
	c := Claims(subject, roles...)
	c["iss"], c["aud"] = k.iss, []any{k.aud}
	return c
}

// Token returns a valid token for subject with roles, issued by the Kit's Issuer.
func (k *Kit) Token(t testing.TB, subject string, roles ...auth.Role) string {
	t.Helper()
	tok, err := k.Issuer.Issue(subject, "authtest", roles)
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	return tok.AccessToken
}

// Bearer is "Bearer " + Token(...), ready for the Authorization header.
func (k *Kit) Bearer(t testing.TB, subject string, roles ...auth.Role) string {
	t.Helper()
	return "Bearer " + k.Token(t, subject, roles...)
}

// Claims returns the claims of a valid token for subject with roles, to edit and Sign.
func Claims(subject string, roles ...auth.Role) jwt.MapClaims {
	now := time.Now()
	names := make([]any, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return jwt.MapClaims{
		"iss": Issuer, "sub": subject, "aud": []any{Audience}, "client_id": "authtest",
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": rand.Text(), "roles": names,
	}
}

// Sign signs claims with key, with header typ at+jwt and kid of the key; edit changes the
// header before signing when it is not nil.
func Sign(t testing.TB, key auth.SigningKey, claims jwt.MapClaims, edit func(h map[string]any)) string {
	t.Helper()
	method := jwt.SigningMethod(jwt.SigningMethodEdDSA)
	if key.Alg == auth.AlgRS256 {
		method = jwt.SigningMethodRS256
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = auth.TokenType
	tok.Header["kid"] = key.ID
	if edit != nil {
		edit(tok.Header)
	}
	s, err := tok.SignedString(key.Private)
	if err != nil {
		t.Fatalf("authtest: sign: %v", err)
	}
	return s
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Attack is one request that must be refused with 401.
type Attack struct {
	Name string
	// Authorization is the header value; "" sends none.
	Authorization string
	// Query is added to the request URL.
	Query string
}

// Attacks returns the attack matrix: tokens a protected function must refuse, each otherwise
// valid for subject with roles (so a 2xx means exactly that check is missing).
func (k *Kit) Attacks(t testing.TB, subject string, roles ...auth.Role) []Attack {
	t.Helper()
	active, rsaKey := k.Keys[0], k.Keys[0]
	for _, key := range k.Keys {
		if key.Alg == auth.AlgRS256 {
			rsaKey = key // the classic confusion; without an RSA key, HS256 keyed with the active public key
			break
		}
	}
	good := func() jwt.MapClaims { return k.Claims(subject, roles...) }
	with := func(edit func(c jwt.MapClaims)) string {
		c := good()
		edit(c)
		return Sign(t, active, c, nil)
	}
	header := func(edit func(h map[string]any)) string { return Sign(t, active, good(), edit) }
	now := time.Now()

	h := map[string]any{"alg": "none", "typ": auth.TokenType, "kid": active.ID}
	algNone := b64json(t, h) + "." + b64json(t, good()) + "."

	// HS256 keyed with a trusted public key's PEM (the RSA one when there is one: the classic
	// alg confusion), with its kid.
	rsaPEM, err := auth.EncodePublicKeys([]auth.PublicKey{rsaKey.PublicKey})
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	hs := b64json(t, map[string]any{"alg": "HS256", "typ": auth.TokenType, "kid": rsaKey.ID}) + "." + b64json(t, good())
	mac := hmac.New(sha256.New, rsaPEM)
	mac.Write([]byte(hs))
	hsToken := hs + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	valid := k.Token(t, subject, roles...)
	parts := strings.Split(valid, ".")
	tampered := good()
	tampered["roles"] = []any{"admin", "customer", "service"}
	tampered["sub"] = "someone-else"
	tamperedToken := parts[0] + "." + b64json(t, tampered) + "." + parts[2]

	big := good()
	big["padding"] = strings.Repeat("x", auth.MaxTokenLength)

	return []Attack{
		{Name: "no token"},
		{Name: "alg none", Authorization: "Bearer " + algNone},
		{Name: "HS256 signed with a trusted public key", Authorization: "Bearer " + hsToken},
		{Name: "unknown kid", Authorization: "Bearer " + header(func(h map[string]any) { h["kid"] = "bm90LWEta25vd24ta2V5LWlkLWF0LWFsbC0xMjM0NTY" })},
		{Name: "kid that looks like a path", Authorization: "Bearer " + header(func(h map[string]any) { h["kid"] = "../../../../dev/null" })},
		{Name: "kid that looks like a URL", Authorization: "Bearer " + header(func(h map[string]any) { h["kid"] = "https://evil.example/jwks.json" })},
		{Name: "no kid", Authorization: "Bearer " + header(func(h map[string]any) { delete(h, "kid") })},
		{Name: "expired beyond the leeway", Authorization: "Bearer " + with(func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-20*time.Minute).Unix(), now.Add(-20*time.Minute).Unix(), now.Add(-auth.Leeway-5*time.Second).Unix()
		})},
		{Name: "no exp", Authorization: "Bearer " + with(func(c jwt.MapClaims) { delete(c, "exp") })},
		{Name: "nbf in the future", Authorization: "Bearer " + with(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })},
		{Name: "iat in the future", Authorization: "Bearer " + with(func(c jwt.MapClaims) { c["iat"] = now.Add(2 * time.Minute).Unix() })},
		{Name: "wrong iss", Authorization: "Bearer " + with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" })},
		{Name: "wrong aud", Authorization: "Bearer " + with(func(c jwt.MapClaims) { c["aud"] = []any{"another-api"} })},
		{Name: "no sub", Authorization: "Bearer " + with(func(c jwt.MapClaims) { delete(c, "sub") })},
		{Name: "wrong typ", Authorization: "Bearer " + header(func(h map[string]any) { h["typ"] = "JWT" })},
		{Name: "no typ", Authorization: "Bearer " + header(func(h map[string]any) { delete(h, "typ") })},
		{Name: "token in the query string", Query: "access_token=" + valid},
		{Name: "token over 8 KiB", Authorization: "Bearer " + with(func(c jwt.MapClaims) { c["padding"] = big["padding"] })},
		{Name: "a header of thousands of dots", Authorization: "Bearer " + strings.Repeat(".", 5000)},
		{Name: "tampered payload", Authorization: "Bearer " + tamperedToken},
		{Name: "signed by a retired key after rotation ended", Authorization: "Bearer " + Sign(t, k.Retired, good(), nil)},
		{Name: "not a Bearer credential", Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin"))},
		{Name: "empty Bearer", Authorization: "Bearer "},
	}
}

// Call sends one request with the attack's header and query and returns the status.
type Call func(t *testing.T, authorization, query string) int

// RunMatrix runs every attack through call and expects 401, then a valid token for subject
// with roles and expects a 2xx.
func (k *Kit) RunMatrix(t *testing.T, call Call, subject string, roles ...auth.Role) {
	t.Helper()
	for _, a := range k.Attacks(t, subject, roles...) {
		t.Run(a.Name, func(t *testing.T) {
			if got := call(t, a.Authorization, a.Query); got != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", got)
			}
		})
	}
	t.Run("valid token", func(t *testing.T) {
		if got := call(t, k.Bearer(t, subject, roles...), ""); got < 200 || got > 299 {
			t.Errorf("status %d, want 2xx", got)
		}
	})
}

// RunMatrixOn runs the matrix against a function's handler (its App with the token
// middleware): method target with body, as fntest.Call sends it; extra are more header pairs.
func (k *Kit) RunMatrixOn(t *testing.T, h fntest.Handler, method, target string, body any, subject string, roles []auth.Role, extra ...string) {
	t.Helper()
	k.RunMatrix(t, func(t *testing.T, authorization, query string) int {
		u := target
		if query != "" {
			if strings.Contains(u, "?") {
				u += "&" + query
			} else {
				u += "?" + query
			}
		}
		headers := append([]string(nil), extra...)
		if authorization != "" {
			headers = append(headers, "Authorization", authorization)
		}
		resp := fntest.Call(t, h, method, u, body, headers...)
		if resp.Status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a WWW-Authenticate: Bearer challenge")
		}
		return resp.Status
	}, subject, roles...)
}
