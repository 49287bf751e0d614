package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// RemoteKeys are the keys of a JWKS URL, cached. A kid the cache does not know triggers a
// refresh, at most once per MinRefresh (so a flood of tokens with made-up kids costs at most
// one fetch per interval); the whole set is also refreshed after TTL. When a refresh fails the
// last good set stays in use.
type RemoteKeys struct {
	url    string
	client *http.Client
	// MinRefresh is the least time between two fetches.
	MinRefresh time.Duration
	// TTL is how long a fetched set is used before it is fetched again.
	TTL time.Duration
	now func() time.Time

	mu          sync.Mutex
	keys        StaticKeys
	fetchedAt   time.Time
	lastAttempt time.Time
}

// Default cache timings.
const (
	DefaultJWKSMinRefresh = 30 * time.Second
	DefaultJWKSTTL        = 5 * time.Minute
	jwksFetchTimeout      = 5 * time.Second
	maxJWKSBytes          = 1 << 20
)

// NewRemoteKeys returns a cache of the JWK Set at url; client nil means a client with a
// 5-second timeout.
func NewRemoteKeys(url string, client *http.Client) *RemoteKeys {
	if client == nil {
		client = &http.Client{Timeout: jwksFetchTimeout}
	}
	return &RemoteKeys{url: url, client: client, MinRefresh: DefaultJWKSMinRefresh, TTL: DefaultJWKSTTL, now: time.Now}
}

// Key returns the key named kid, fetching the set first when it is stale or lacks kid and the
// last fetch is at least MinRefresh ago.
func (r *RemoteKeys) Key(ctx context.Context, kid string) (PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	k, known := r.keys[kid]
	stale := r.keys == nil || now.Sub(r.fetchedAt) >= r.TTL
	if (known && !stale) || now.Sub(r.lastAttempt) < r.MinRefresh && !r.lastAttempt.IsZero() {
		if known {
			return k, nil
		}
		return PublicKey{}, ErrUnknownKey
	}
	r.lastAttempt = now
	keys, err := r.fetch(ctx)
	if err != nil {
		slog.WarnContext(ctx, "JWKS refresh failed; keeping the keys cached before", "error", err)
		if known {
			return k, nil
		}
		return PublicKey{}, fmt.Errorf("%w (JWKS refresh failed)", ErrUnknownKey)
	}
	r.keys, r.fetchedAt = NewStaticKeys(keys), now
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	return PublicKey{}, ErrUnknownKey
}

func (r *RemoteKeys) fetch(ctx context.Context) ([]PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS over %d bytes", maxJWKSBytes)
	}
	return ParseJWKS(b)
}
