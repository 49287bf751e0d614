package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newEdKey(t *testing.T) SigningKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := newPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return SigningKey{PublicKey: pk, Private: priv}
}

// jwksServer serves the public keys it is given and counts fetches.
type jwksServer struct {
	mu      sync.Mutex
	keys    []PublicKey
	fail    bool
	fetches atomic.Int32
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T, keys ...SigningKey) *jwksServer {
	s := &jwksServer{}
	s.set(keys...)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(NewJWKS(s.keys))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(keys ...SigningKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for _, k := range keys {
		s.keys = append(s.keys, k.PublicKey)
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRemoteKeysRotation(t *testing.T) {
	oldKey, newKey := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, oldKey)
	clock := &fakeClock{t: time.Now()}
	rk := NewRemoteKeys(srv.srv.URL, srv.srv.Client())
	rk.now = clock.now
	v := NewVerifier(rk, DefaultIssuer, DefaultAudience)
	issue := func(k SigningKey) string {
		i, err := NewIssuer([]SigningKey{k}, DefaultIssuer, DefaultAudience, DefaultTokenTTL)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := i.Issue("svc", "svc", []Role{RoleService})
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	verify := func(tok string) error {
		_, err := v.Verify(t.Context(), tok)
		return err
	}
	oldTok := issue(oldKey)
	if err := verify(oldTok); err != nil {
		t.Fatalf("token of the listed key: %v", err)
	}
	if srv.fetches.Load() != 1 {
		t.Fatalf("%d fetches, want 1", srv.fetches.Load())
	}

	// Rotation starts: the issuer signs with the new key and lists both.
	srv.set(newKey, oldKey)
	clock.advance(rk.MinRefresh)
	newTok := issue(newKey)
	if err := verify(newTok); err != nil {
		t.Fatalf("token of the new key (unknown kid must trigger a refresh): %v", err)
	}
	if err := verify(oldTok); err != nil {
		t.Fatalf("token of the old key during rotation: %v", err)
	}

	t.Run("unknown kids trigger at most one refresh per interval", func(t *testing.T) {
		before := srv.fetches.Load()
		stranger := newEdKey(t)
		for range 100 {
			if err := verify(issue(stranger)); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("unknown key: %v", err)
			}
		}
		if n := srv.fetches.Load() - before; n > 1 {
			t.Fatalf("100 unknown kids caused %d fetches", n)
		}
		clock.advance(rk.MinRefresh)
		_ = verify(issue(stranger))
		if n := srv.fetches.Load() - before; n > 2 {
			t.Fatalf("after the interval: %d fetches", n)
		}
	})

	// Rotation ends: the old key is removed; once verifiers refresh, its tokens fail.
	srv.set(newKey)
	clock.advance(rk.TTL)
	if err := verify(oldTok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("token of the retired key after rotation ended: %v", err)
	}
	if err := verify(newTok); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}

	t.Run("a failed refresh keeps the keys it had", func(t *testing.T) {
		srv.mu.Lock()
		srv.fail = true
		srv.mu.Unlock()
		clock.advance(rk.TTL)
		if err := verify(newTok); err != nil {
			t.Fatalf("JWKS down: %v", err)
		}
	})
}

func TestThumbprints(t *testing.T) {
	// RFC 8037 appendix A.3.
	x, _ := b64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	k, err := newPublicKey(ed25519.PublicKey(x))
	if err != nil || k.ID != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("Ed25519 thumbprint %q, %v", k.ID, err)
	}
	// RFC 7638 section 3.1.
	n, _ := b64.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	k, err = newPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	if err != nil || k.ID != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("RSA thumbprint %q, %v", k.ID, err)
	}
	// The JWKS round trip keeps keys and kids.
	b, _ := json.Marshal(NewJWKS([]PublicKey{k}))
	keys, err := ParseJWKS(b)
	if err != nil || len(keys) != 1 || keys[0].ID != k.ID || keys[0].Alg != AlgRS256 {
		t.Fatalf("round trip %+v, %v", keys, err)
	}
	if !strings.Contains(string(b), `"use":"sig"`) || !strings.Contains(string(b), `"alg":"RS256"`) {
		t.Errorf("JWKS %s", b)
	}
}

func TestKeyParsingRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newPublicKey(&small.PublicKey); err == nil {
		t.Error("a 1024-bit RSA key was accepted")
	}
	for name, text := range map[string]string{
		"empty":       "",
		"certificate": "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
		"garbage":     "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
	} {
		if _, err := ParsePrivateKeys([]byte(text)); err == nil {
			t.Errorf("%s: private keys accepted", name)
		}
		if _, err := ParsePublicKeys([]byte(text)); err == nil {
			t.Errorf("%s: public keys accepted", name)
		}
	}
	k := newEdKey(t)
	j := k.ToJWK()
	j.Kid = "not-the-thumbprint"
	b, _ := json.Marshal(JWKS{Keys: []JWK{j}})
	if _, err := ParseJWKS(b); err == nil {
		t.Error("a JWKS key whose kid is not its thumbprint was accepted")
	}
	j = k.ToJWK()
	j.Use = "enc"
	b, _ = json.Marshal(JWKS{Keys: []JWK{j}})
	if keys, err := ParseJWKS(b); err != nil || len(keys) != 0 {
		t.Errorf("an encryption key was used: %v, %v", keys, err)
	}
	if _, err := NewIssuer([]SigningKey{k, k}, DefaultIssuer, DefaultAudience, DefaultTokenTTL); err == nil {
		t.Error("a key listed twice was accepted")
	}
}

func TestClientCredentials(t *testing.T) {
	k := newEdKey(t)
	iss, err := NewIssuer([]SigningKey{k}, DefaultIssuer, DefaultAudience, DefaultTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	var issued atomic.Int32
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "connector" || secret != "s%2Fcret" || r.PostFormValue("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
			return
		}
		issued.Add(1)
		tok, _ := iss.Issue(id, id, []Role{RoleService})
		_ = json.NewEncoder(w).Encode(tok)
	}))
	t.Cleanup(tokenSrv.Close)
	v := NewVerifier(NewStaticKeys(iss.PublicKeys()), DefaultIssuer, DefaultAudience)
	var rejectNext atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := v.Verify(r.Context(), strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil || rejectNext.Swap(false) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(api.Close)

	clock := &fakeClock{t: time.Now()}
	cc := &ClientCredentials{TokenURL: tokenSrv.URL, ClientID: "connector", ClientSecret: "s/cret", now: clock.now}
	hc := &http.Client{Transport: cc}
	get := func() int {
		resp, err := hc.Post(api.URL, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 5 {
		if s := get(); s != http.StatusNoContent {
			t.Fatalf("status %d", s)
		}
	}
	if issued.Load() != 1 {
		t.Fatalf("%d tokens fetched for 5 calls, want 1 (cached)", issued.Load())
	}
	clock.advance(DefaultTokenTTL - time.Minute)
	get()
	if issued.Load() != 2 {
		t.Fatalf("a token within a minute of expiry was reused (%d fetched)", issued.Load())
	}
	rejectNext.Store(true)
	if s := get(); s != http.StatusNoContent || issued.Load() != 3 {
		t.Fatalf("after a 401: status %d, %d tokens fetched; want a fresh token and a retry", s, issued.Load())
	}

	bad := &ClientCredentials{TokenURL: tokenSrv.URL, ClientID: "connector", ClientSecret: "wrong"}
	_, err = bad.Token(t.Context())
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_client" || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad secret: %v", err)
	}
}
