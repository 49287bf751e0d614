package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"

	"github.com/golang-jwt/jwt/v5"
)

// The signature algorithms the platform issues and accepts: EdDSA with Ed25519 keys
// (preferred) and RS256 with RSA keys of at least MinRSABits.
const (
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
)

// ValidAlgs are the only algorithms a verifier accepts; each key also fixes its own algorithm.
var ValidAlgs = []string{AlgEdDSA, AlgRS256}

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// kidPattern is what a key id may look like: an RFC 7638 thumbprint is 43 base64url
// characters. Anything else (paths, URLs) is rejected before any look-up.
var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// PublicKey is a verification key with its key id and algorithm.
type PublicKey struct {
	// ID is the kid: the RFC 7638 JWK thumbprint of the key.
	ID string
	// Alg is AlgEdDSA or AlgRS256.
	Alg string
	// Key is an ed25519.PublicKey or *rsa.PublicKey.
	Key crypto.PublicKey
}

// SigningKey is a private key that signs tokens.
type SigningKey struct {
	PublicKey
	Private crypto.Signer
}

// newPublicKey checks the key's type and size and computes its kid.
func newPublicKey(k crypto.PublicKey) (PublicKey, error) {
	switch k := k.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return PublicKey{}, errors.New("ed25519 public key has the wrong size")
		}
		return PublicKey{ID: thumbprint(okpJWK(k)), Alg: AlgEdDSA, Key: k}, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return PublicKey{}, fmt.Errorf("RSA key of %d bits is under %d", k.N.BitLen(), MinRSABits)
		}
		return PublicKey{ID: thumbprint(rsaJWK(k)), Alg: AlgRS256, Key: k}, nil
	default:
		return PublicKey{}, fmt.Errorf("unsupported key type %T (use Ed25519 or RSA)", k)
	}
}

// method is the golang-jwt signing method of the key's algorithm.
func (k PublicKey) method() jwt.SigningMethod {
	if k.Alg == AlgEdDSA {
		return jwt.SigningMethodEdDSA
	}
	return jwt.SigningMethodRS256
}

// ParsePrivateKeys reads one or more PEM private keys ("PRIVATE KEY" PKCS #8 with Ed25519 or
// RSA, or "RSA PRIVATE KEY" PKCS #1). The first is the active signing key. Errors never quote
// the key material.
func ParsePrivateKeys(data []byte) ([]SigningKey, error) {
	return parsePEM(data, "private key", func(b *pem.Block) (SigningKey, error) {
		var (
			k   any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			return SigningKey{}, fmt.Errorf("a %q is not a private key", b.Type)
		}
		if err != nil {
			return SigningKey{}, err
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return SigningKey{}, fmt.Errorf("unsupported key type %T", k)
		}
		pub, err := newPublicKey(signer.Public())
		if err != nil {
			return SigningKey{}, err
		}
		return SigningKey{PublicKey: pub, Private: signer}, nil
	})
}

// ParsePublicKeys reads one or more PEM public keys ("PUBLIC KEY" PKIX or "RSA PUBLIC KEY").
func ParsePublicKeys(data []byte) ([]PublicKey, error) {
	return parsePEM(data, "public key", func(b *pem.Block) (PublicKey, error) {
		var (
			k   any
			err error
		)
		switch b.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(b.Bytes)
		default:
			return PublicKey{}, fmt.Errorf("a %q is not a public key", b.Type)
		}
		if err != nil {
			return PublicKey{}, err
		}
		return newPublicKey(k)
	})
}

// parsePEM parses every PEM block in data with parse; errors name the block by its position
// (never its content), and data without a block is an error naming what was expected.
func parsePEM[T any](data []byte, what string, parse func(*pem.Block) (T, error)) ([]T, error) {
	var out []T
	for i := 1; ; i++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		v, err := parse(b)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", i, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM %s found", what)
	}
	return out, nil
}

// EncodePublicKeys writes keys as PEM "PUBLIC KEY" blocks (the jwt-public-keys secret).
func EncodePublicKeys(keys []PublicKey) ([]byte, error) {
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("encode public key %s: %w", k.ID, err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return out, nil
}

// JWK is one key of a JWK Set (RFC 7517), public members only.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKS is a JWK Set document.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

var b64 = base64.RawURLEncoding

func okpJWK(k ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k)}
}

func rsaJWK(k *rsa.PublicKey) JWK {
	return JWK{Kty: "RSA", N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a key: its required members in
// lexicographic order, no white space.
func thumbprint(j JWK) string {
	var s string
	if j.Kty == "OKP" {
		s = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	} else {
		s = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return b64.EncodeToString(sum[:])
}

// ToJWK returns the key's JWK with kid, alg and use.
func (k PublicKey) ToJWK() JWK {
	var j JWK
	switch key := k.Key.(type) {
	case ed25519.PublicKey:
		j = okpJWK(key)
	case *rsa.PublicKey:
		j = rsaJWK(key)
	}
	j.Kid, j.Alg, j.Use = k.ID, k.Alg, "sig"
	return j
}

// NewJWKS returns the JWK Set of keys.
func NewJWKS(keys []PublicKey) JWKS {
	s := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		s.Keys = append(s.Keys, k.ToJWK())
	}
	return s
}

// ParseJWKS reads a JWK Set. Keys the platform cannot use (other types, encryption keys, an
// alg that does not fit the key, a malformed kid) are skipped; a key whose kid is not its
// RFC 7638 thumbprint is an error.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	var s JWKS
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	var keys []PublicKey
	for _, j := range s.Keys {
		if (j.Use != "" && j.Use != "sig") || !kidPattern.MatchString(j.Kid) {
			continue
		}
		var k crypto.PublicKey
		switch {
		case j.Kty == "OKP" && j.Crv == "Ed25519" && (j.Alg == "" || j.Alg == AlgEdDSA):
			x, err := b64.DecodeString(j.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("JWKS key %s: bad x", j.Kid)
			}
			k = ed25519.PublicKey(x)
		case j.Kty == "RSA" && (j.Alg == "" || j.Alg == AlgRS256):
			n, err1 := b64.DecodeString(j.N)
			e, err2 := b64.DecodeString(j.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("JWKS key %s: bad n or e", j.Kid)
			}
			k = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		default:
			continue
		}
		pub, err := newPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %s: %w", j.Kid, err)
		}
		if pub.ID != j.Kid {
			return nil, fmt.Errorf("JWKS key %s: kid is not the key's thumbprint", j.Kid)
		}
		keys = append(keys, pub)
	}
	return keys, nil
}

// NewEd25519PEM returns a new Ed25519 private key as a PKCS #8 PEM block (for the
// jwt-signing-keys secret).
func NewEd25519PEM() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodePrivateKeys writes keys as PKCS #8 PEM blocks, in order (active first).
func EncodePrivateKeys(keys []SigningKey) ([]byte, error) {
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("encode key %s: %w", k.ID, err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	return out, nil
}
