package provider

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	tokenauth "github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
)

// gate stands in front of every /function/ and /async-function/ call: the token check for
// protected functions (verifier nil: off) and the per-client rate limit (limiter nil: off).
type gate struct {
	verifier *tokenauth.Verifier
	limiter  *limiter
}

var errRateLimited = fault.New(fault.TooManyRequests, "rate_limited", "too many requests from this client")

// newGate builds the gate from cfg. A JWKS URL on this provider itself is fetched in-process
// (selfTransport), so a key fetch never meets the gate, the rate limit or a loop through the
// network.
func (p *Provider) newGate(cfg Config) (*gate, error) {
	g := &gate{}
	switch a := cfg.Auth; {
	case a.PublicKeysFile != "":
		b, err := os.ReadFile(a.PublicKeysFile)
		if err != nil {
			return nil, fmt.Errorf("PROVIDER_AUTH_PUBLIC_KEYS_FILE: %w", err)
		}
		keys, err := tokenauth.ParsePublicKeys(b)
		if err != nil {
			return nil, fmt.Errorf("PROVIDER_AUTH_PUBLIC_KEYS_FILE: %w", err)
		}
		g.verifier = tokenauth.NewVerifier(tokenauth.NewStaticKeys(keys), a.Issuer, a.Audience)
	case a.JWKSURL != "":
		u, err := url.Parse(a.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("PROVIDER_AUTH_JWKS_URL must be an http(s) URL")
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &selfTransport{p: p, next: http.DefaultTransport}}
		rk := tokenauth.NewRemoteKeys(a.JWKSURL, client)
		rk.MinRefresh, rk.TTL = a.JWKSMinRefresh, a.JWKSTTL
		g.verifier = tokenauth.NewVerifier(rk, a.Issuer, a.Audience)
	}
	if r := cfg.RateLimit; r.Limit > 0 {
		burst := r.Burst
		if burst == 0 {
			burst = int(math.Ceil(r.Limit))
		}
		g.limiter = newLimiter(r.Limit, burst, r.MaxClients)
	}
	return g, nil
}

// admit decides whether a call to f may go on. When it may not, it has answered: 401 (no
// valid token for a protected function, the body and WWW-Authenticate challenge the functions
// themselves send) or 429 with Retry-After. It runs before the body is read and before a
// function at zero is woken.
func (p *Provider) admit(w http.ResponseWriter, r *http.Request, f *function) bool {
	g := p.gate
	key := ""
	if g.verifier != nil && !f.public() && !healthProbe(r) {
		principal, denial := g.authenticate(r)
		if denial != nil {
			// a caller without a valid token is limited by its address, so guessing costs too
			if !p.allow(w, r, f, addressKey(r)) {
				return false
			}
			p.metrics.rejected.WithLabelValues(f.metricName(), "unauthenticated").Inc()
			denial.replay(w)
			return false
		}
		key = "client:" + principal.ClientID + "/" + principal.Subject
	}
	if key == "" {
		key = addressKey(r)
	}
	return p.allow(w, r, f, key)
}

// allow takes a token from key's bucket, answering 429 when it is empty.
func (p *Provider) allow(w http.ResponseWriter, r *http.Request, f *function, key string) bool {
	if p.gate.limiter == nil {
		return true
	}
	ok, wait := p.gate.limiter.take(key)
	if ok {
		return true
	}
	p.metrics.rejected.WithLabelValues(f.metricName(), "rate_limited").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
	fn.WriteError(w, r, errRateLimited.Withf("over %g requests per second (burst %d) for this client; retry after %s",
		p.gate.limiter.rate, int(p.gate.limiter.burst), w.Header().Get("Retry-After")+"s"))
	return false
}

// healthProbe: GET /function/NAME/_/health reaches the process's own health check, which runs
// no handler; make up and the e2e harness wait on it, so it needs no token.
func healthProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.PathValue("path") == "_/health"
}

func addressKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// authenticate runs shared/auth's middleware, exactly as a function runs it, against a
// recorder: it returns the caller, or the recorded 401 to send.
func (g *gate) authenticate(r *http.Request) (tokenauth.Principal, *recorder) {
	var (
		principal tokenauth.Principal
		passed    bool
	)
	rec := &recorder{header: http.Header{}}
	tokenauth.Middleware(g.verifier, false)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		principal, passed = tokenauth.FromContext(r.Context())
	})).ServeHTTP(rec, r)
	if !passed {
		if rec.code == 0 {
			rec.code = http.StatusUnauthorized
		}
		return tokenauth.Principal{}, rec
	}
	return principal, nil
}

// recorder keeps an answer to send later.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.code)
	_, _ = w.Write(r.body.Bytes()) // the client may be gone; nothing to do then
}

// selfTransport serves requests to this provider's own /function/NAME in-process (straight
// to the function, past the gate and the rate limit) and sends any other request on.
type selfTransport struct {
	p    *Provider
	next http.RoundTripper
}

func (t *selfTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	name, path, ok := t.p.ownFunction(req.URL)
	if !ok {
		return t.next.RoundTrip(req)
	}
	if req.Body != nil {
		_ = req.Body.Close() // a key fetch is a GET; a body has nowhere to go
	}
	f, found := t.p.lookup(name)
	if !found {
		return nil, fmt.Errorf("function %s: %w", name, ErrFunctionNotFound)
	}
	h := req.Header.Clone()
	h.Set("X-Call-Id", uuid.NewString())
	h.Set("X-Start-Time", strconv.FormatInt(time.Now().UTC().UnixNano(), 10))
	return t.p.invokeFn(req.Context(), f, call{method: req.Method, path: path, rawQuery: req.URL.RawQuery, header: h})
}

// ownFunction reports whether u is /function/NAME[/path] on this provider's listening
// address, and which function and path it names.
func (p *Provider) ownFunction(u *url.URL) (name, path string, ok bool) {
	bound := p.self.Load()
	if bound == nil || u.Scheme != "http" {
		return "", "", false
	}
	bHost, bPort, err := net.SplitHostPort(*bound)
	if err != nil {
		return "", "", false
	}
	if u.Port() != bPort {
		return "", "", false
	}
	host := u.Hostname()
	loopback := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "localhost" || (ip != nil && ip.IsLoopback())
	}
	bIP := net.ParseIP(bHost)
	if host != bHost && !(loopback(host) && (loopback(bHost) || (bIP != nil && bIP.IsUnspecified()))) {
		return "", "", false
	}
	rest, found := strings.CutPrefix(u.Path, "/function/")
	if !found {
		return "", "", false
	}
	name, sub, _ := strings.Cut(rest, "/")
	if name == "" {
		return "", "", false
	}
	return trimNamespace(name), "/" + sub, true
}
