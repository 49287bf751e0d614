package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/identity"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func readKeys(t *testing.T, dir string) ([]auth.SigningKey, []auth.PublicKey) {
	t.Helper()
	priv, err := os.ReadFile(filepath.Join(dir, "jwt-signing-keys"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "jwt-public-keys"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.ParsePrivateKeys(priv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.ParsePublicKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != len(p) {
		t.Fatalf("%d private, %d public keys", len(s), len(p))
	}
	for i := range s {
		if s[i].ID != p[i].ID {
			t.Fatalf("key %d: %s and %s", i, s[i].ID, p[i].ID)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "jwt-signing-keys")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	return s, p
}

func TestKeysRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	if err := run(t.Context(), []string{"keys", "-dir", dir}); err != nil {
		t.Fatal(err)
	}
	first, _ := readKeys(t, dir)
	if err := run(t.Context(), []string{"keys", "-dir", dir}); err != nil {
		t.Fatal(err)
	}
	if again, _ := readKeys(t, dir); len(again) != 1 || again[0].ID != first[0].ID || again[0].Alg != auth.AlgEdDSA {
		t.Fatalf("a second run changed the key: %v", again)
	}
	if err := run(t.Context(), []string{"keys", "-dir", dir, "-rotate"}); err != nil {
		t.Fatal(err)
	}
	rotating, _ := readKeys(t, dir)
	if len(rotating) != 2 || rotating[1].ID != first[0].ID || rotating[0].ID == first[0].ID {
		t.Fatalf("during rotation %v", rotating)
	}
	if err := run(t.Context(), []string{"keys", "-dir", dir, "-retire"}); err != nil {
		t.Fatal(err)
	}
	if done, _ := readKeys(t, dir); len(done) != 1 || done[0].ID != rotating[0].ID {
		t.Fatalf("after rotation %v", done)
	}
}

func TestClient(t *testing.T) {
	db := pgtest.New(t)
	t.Setenv("DATABASE_URL", db.URL)
	dir := t.TempDir()
	secretFile, idFile := filepath.Join(dir, "auth-client-secret"), filepath.Join(dir, "auth-client-id")
	for range 2 { // a second run replaces the secret
		if err := run(t.Context(), []string{"client", "-id", "connector", "-name", "RabbitMQ connector", "-roles", "service", "-secret-file", secretFile, "-id-file", idFile}); err != nil {
			t.Fatal(err)
		}
	}
	secret, _ := os.ReadFile(secretFile)
	id, _ := os.ReadFile(idFile)
	c, err := identity.NewStore(db.Pool).AuthenticateClient(t.Context(), string(id), string(secret))
	if err != nil || strings.Join(c.Roles, ",") != "service" {
		t.Fatalf("client %+v, %v", c, err)
	}
	if err := run(t.Context(), []string{"client", "-id", "x", "-name", "x", "-roles", "customer"}); err == nil {
		t.Fatal("a customer-role client was created")
	}
}
