// Package identity is the identity context: OAuth2 clients and their secrets, customers'
// sign-in credentials, and the rate limits on failed attempts. Secrets and passwords are kept
// only as argon2id hashes (github.com/alexedwards/argon2id, PHC strings) and compared in
// constant time; an unknown client or e-mail is compared against a dummy hash of the same
// parameters, so it costs the same work as a wrong secret or password.
package identity

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

// Params are the argon2id parameters of new hashes: OWASP's first recommendation (19 MiB,
// 2 passes, 1 lane), which keeps one hash near 20-40 ms and within a small function's memory.
// Stored hashes carry their own parameters, so raising these later needs no migration.
var Params = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Password limits.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 128
)

// HashSecret returns the argon2id hash of a password or client secret.
func HashSecret(secret string) (string, error) {
	p := Params
	h, err := argon2id.CreateHash(secret, &p)
	if err != nil {
		return "", fmt.Errorf("hash secret: %w", err)
	}
	return h, nil
}

// compareFunc compares a secret with a stored hash; a variable of the stores so tests can
// count the hash work each path does.
type compareFunc func(secret, hash string) (bool, error)

// compareSecret is argon2id's constant-time comparison.
func compareSecret(secret, hash string) (bool, error) {
	ok, err := argon2id.ComparePasswordAndHash(secret, hash)
	if err != nil {
		return false, fmt.Errorf("compare secret: %w", err)
	}
	return ok, nil
}

// dummyHash is a hash of a random secret with the current parameters: an unknown client or
// e-mail is compared against it.
var dummyHash = sync.OnceValues(func() (string, error) {
	return HashSecret(rand.Text())
})

// NewSecret returns a random client secret: 32 bytes, base64url without padding.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// CheckPassword adds a violation to v when password breaks the rules: 12 to 128 characters,
// not only white space. The password is never trimmed or echoed.
func CheckPassword(v *fault.Validator, field, password string) {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		v.Add(field, "is required")
	case !utf8.ValidString(password):
		v.Add(field, "must be valid UTF-8")
	case n < MinPasswordLength:
		v.Add(field, fmt.Sprintf("must be at least %d characters", MinPasswordLength))
	case n > MaxPasswordLength:
		v.Add(field, fmt.Sprintf("must be at most %d characters", MaxPasswordLength))
	case strings.TrimFunc(password, unicode.IsSpace) == "":
		v.Add(field, "must not be only white space")
	}
}
