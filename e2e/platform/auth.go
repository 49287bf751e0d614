package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/auth/authtest"
)

// AuthKit is an authtest.Kit on the platform's own signing key, issuer and audience: its
// tokens are valid on the platform, and its attacks are each one flaw away from valid.
func (p *Platform) AuthKit(t testing.TB) *authtest.Kit {
	t.Helper()
	pemText, err := os.ReadFile(filepath.Join(p.state, "provider", "secrets", "jwt-signing-keys"))
	if err != nil {
		t.Fatalf("the platform's signing keys: %v", err)
	}
	keys, err := auth.ParsePrivateKeys(pemText)
	if err != nil {
		t.Fatal(err)
	}
	return authtest.NewWith(t, keys, p.Gateway+"/function/issue-token", "faas-commerce")
}

// Request is one HTTP request as an attacker or a client sends it, header by header.
type Request struct {
	Method string
	// Path is below /function/ on the gateway, or below Base when Base is set.
	Path string
	// Base is another server ("http://127.0.0.1:PORT", a function process); "" is the gateway.
	Base string
	// Authorization is the header's whole value; "" sends none.
	Authorization string
	// Query is the raw query string.
	Query string
	// Body is sent as JSON when not nil ([]byte as is).
	Body any
	// Header holds more name, value pairs.
	Header []string
	// Source is the loopback address the request comes from (127.0.0.2, ...), so that
	// per-address limits see different callers; "" lets the system choose.
	Source string
}

var sourceClients sync.Map // source address -> *http.Client

func clientFrom(source string) *http.Client {
	if c, ok := sourceClients.Load(source); ok {
		return c.(*http.Client)
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	c, _ := sourceClients.LoadOrStore(source, &http.Client{Timeout: 60 * time.Second, Transport: tr})
	return c.(*http.Client)
}

// Do sends r and returns the answer; a transport error fails the test.
func (p *Platform) Do(t testing.TB, r Request) Response {
	t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	u := p.Gateway + "/function/" + strings.TrimPrefix(r.Path, "/")
	if r.Base != "" {
		u = strings.TrimSuffix(r.Base, "/") + "/" + strings.TrimPrefix(r.Path, "/")
	}
	if r.Query != "" {
		if strings.Contains(u, "?") {
			u += "&" + r.Query
		} else {
			u += "?" + r.Query
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Authorization != "" {
		req.Header.Set("Authorization", r.Authorization)
	}
	for i := 0; i+1 < len(r.Header); i += 2 {
		req.Header.Set(r.Header[i], r.Header[i+1])
	}
	resp, err := clientFrom(r.Source).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, u, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// FunctionStatus is what the provider says of a function: replicas and their processes.
type FunctionStatus struct {
	Replicas  int `json:"replicas"`
	Instances []struct {
		PID     int    `json:"pid"`
		Address string `json:"address"`
		Ready   bool   `json:"ready"`
	} `json:"instances"`
}

// Status reads a function's status from the provider.
func (p *Platform) Status(t testing.TB, name string) FunctionStatus {
	t.Helper()
	var s FunctionStatus
	if err := json.Unmarshal(p.system(t, http.MethodGet, "/system/function/"+name, nil), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// ScaleToZero scales functions to zero replicas (their labels must allow min 0) and waits
// until none has a process left.
func (p *Platform) ScaleToZero(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		p.system(t, http.MethodPost, "/system/scale-function/"+n, map[string]any{"serviceName": n, "replicas": 0})
	}
	for _, n := range names {
		var s FunctionStatus
		Eventually(t, 30*time.Second, func() bool {
			s = p.Status(t, n)
			return s.Replicas == 0 && len(s.Instances) == 0
		}, func() string { return n + " still has processes" })
	}
}

// ColdStarts is how often the provider has woken a function from zero.
func (p *Platform) ColdStarts(t testing.TB, name string) float64 {
	t.Helper()
	v, err := Metric(p.Gateway+"/metrics", "provider_cold_starts_total", "function_name", name+".openfaas-fn")
	if err != nil {
		t.Fatal(err)
	}
	return v
}
