// Package function is jwks: GET / publishes the public keys of the jwt-signing-keys secret as
// a JWK Set (RFC 7517), active key first, each with kid (its RFC 7638 thumbprint), kty, alg and
// use. Verifiers cache the set and fetch it again when a token names a kid they do not know.
package function

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/fn"
)

// Secrets are jwks's secrets.
type Secrets struct {
	// SigningKeys (secret jwt-signing-keys): the issuer's PEM private keys; only their public
	// halves leave this function. (Give jwks a secret of public keys instead by mounting
	// jwt-public-keys; either works.)
	SigningKeys string `env:"jwt_signing_keys"`
	// PublicKeys (secret jwt-public-keys): PEM public keys, used when jwt-signing-keys is absent.
	PublicKeys string `env:"jwt_public_keys"`
}

// cacheSeconds is how long clients and proxies may keep the set: shorter than the verifiers'
// own refresh interval, so a rotation reaches them promptly.
const cacheSeconds = 300

var app = fn.Setup(func(ctx context.Context) (*fn.App, error) {
	keys, err := loadKeys(ctx, config.FromOS())
	if err != nil {
		return nil, err
	}
	return newApp(keys)
})

// Handle is the function's entry point (golang-http template signature).
func Handle(req handler.Request) (handler.Response, error) { return app.Handle(req) }

func loadKeys(ctx context.Context, src config.Source) ([]auth.PublicKey, error) {
	var s Secrets
	if err := src.Load(ctx, nil, &s); err != nil {
		return nil, err
	}
	switch {
	case s.SigningKeys != "":
		priv, err := auth.ParsePrivateKeys([]byte(s.SigningKeys))
		if err != nil {
			return nil, fmt.Errorf("secret jwt-signing-keys: %w", err)
		}
		keys := make([]auth.PublicKey, len(priv))
		for i, k := range priv {
			keys[i] = k.PublicKey
		}
		return keys, nil
	case s.PublicKeys != "":
		keys, err := auth.ParsePublicKeys([]byte(s.PublicKeys))
		if err != nil {
			return nil, fmt.Errorf("secret jwt-public-keys: %w", err)
		}
		return keys, nil
	default:
		return nil, fmt.Errorf("secrets in %s: neither jwt-signing-keys nor jwt-public-keys is present", src.SecretsDir)
	}
}

func newApp(keys []auth.PublicKey) (*fn.App, error) {
	body, err := json.Marshal(auth.NewJWKS(keys))
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	body = append(body, '\n')
	return fn.New("jwks").Route("GET /{$}", func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", cacheSeconds))
		_, _ = w.Write(body) // the client went away; nothing left to tell it
		return nil
	}), nil
}
