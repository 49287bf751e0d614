package provider_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openfaas/faas-provider/types"
	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/provider"
	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/auth/authtest"
)

// gateEnv is a provider whose gate trusts kit's keys (from a PEM file).
func gateEnv(t *testing.T, kit *authtest.Kit) map[string]string {
	env := defaultEnv(t)
	keys := filepath.Join(t.TempDir(), "jwt-public-keys")
	if err := os.WriteFile(keys, kit.PublicPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env["PROVIDER_AUTH_PUBLIC_KEYS_FILE"] = keys
	env["PROVIDER_AUTH_ISSUER"] = authtest.Issuer
	return env
}

// send calls the provider with an Authorization header ("" for none) and a query.
func send(t *testing.T, method, url, authorization, query string) (*http.Response, []byte) {
	t.Helper()
	if query != "" {
		url += "?" + query
	}
	req, err := http.NewRequest(method, url, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func metricValue(t *testing.T, h *harness, line string) float64 {
	t.Helper()
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// scaledToZero deploys name (env AUTH_PUBLIC as given) and waits until it has no process.
func scaledToZero(t *testing.T, h *harness, name string, env map[string]string) {
	t.Helper()
	h.deploy(echoSpec(name, map[string]string{provider.LabelScaleZero: "true", provider.LabelScaleMin: "0"}, env))
	if code := h.system(http.MethodPost, "/system/scale-function/"+name, types.ScaleServiceRequest{ServiceName: name, Replicas: 0}, nil); code/100 != 2 {
		t.Fatalf("scale %s to 0: %d", name, code)
	}
	eventually(t, 20e9, func() error {
		if s := h.status(name); s.Replicas != 0 || len(s.Instances) != 0 {
			return fmt.Errorf("%s: %d replicas, %d instances", name, s.Replicas, len(s.Instances))
		}
		return nil
	})
}

func TestGateRefusesEveryAttackWithoutWakingTheFunction(t *testing.T) {
	kit := authtest.New(t)
	h := startProvider(t, gateEnv(t, kit))
	scaledToZero(t, h, "guarded", nil)
	target := h.URL + "/function/guarded/anything"

	for _, a := range kit.Attacks(t, "customer-1", auth.RoleCustomer) {
		t.Run(a.Name, func(t *testing.T) {
			resp, body := send(t, http.MethodPost, target, a.Authorization, a.Query)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "unauthenticated" {
				t.Errorf("body %s is not the unauthenticated JSON error (%v)", body, err)
			}
		})
	}
	t.Run("async call without a token", func(t *testing.T) {
		if resp, body := send(t, http.MethodPost, h.URL+"/async-function/guarded", "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401: %s", resp.StatusCode, body)
		}
	})

	if s := h.status("guarded"); s.Replicas != 0 || len(s.Instances) != 0 {
		t.Fatalf("refused calls woke the function: %d replicas, %d instances", s.Replicas, len(s.Instances))
	}
	if n := metricValue(t, h, `provider_cold_starts_total{function_name="guarded.openfaas-fn"}`); n != 0 {
		t.Fatalf("%v cold starts after refused calls, want 0", n)
	}
	if n := metricValue(t, h, `provider_gate_rejections_total{function_name="guarded.openfaas-fn",reason="unauthenticated"}`); int(n) != len(kit.Attacks(t, "customer-1", auth.RoleCustomer))+1 {
		t.Errorf("%v rejections counted, want %d", n, len(kit.Attacks(t, "customer-1", auth.RoleCustomer))+1)
	}

	resp, body := send(t, http.MethodPost, target, kit.Bearer(t, "customer-1", auth.RoleCustomer), "")
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Fatalf("valid token: status %d %q", resp.StatusCode, body)
	}
	if n := metricValue(t, h, `provider_cold_starts_total{function_name="guarded.openfaas-fn"}`); n != 1 {
		t.Errorf("%v cold starts after a valid call, want 1", n)
	}
}

func TestGateLetsPublicFunctionsAndHealthProbesThrough(t *testing.T) {
	kit := authtest.New(t)
	h := startProvider(t, gateEnv(t, kit))
	h.deploy(echoSpec("open", nil, map[string]string{"AUTH_PUBLIC": "true"}))
	h.deploy(echoSpec("guarded", nil, map[string]string{"AUTH_PUBLIC": "false"}))
	waitReady(t, h, "open", 1)
	waitReady(t, h, "guarded", 1)

	if resp, body := send(t, http.MethodPost, h.URL+"/function/open", "", ""); resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Errorf("public function without a token: %d %q", resp.StatusCode, body)
	}
	// a public function's own business: another scheme (client_secret_basic) passes untouched
	if resp, _ := send(t, http.MethodPost, h.URL+"/function/open", "Basic YTpi", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("public function with basic auth: %d", resp.StatusCode)
	}
	if resp, _ := send(t, http.MethodGet, h.URL+"/function/guarded/_/health", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("health probe of a protected function: %d", resp.StatusCode)
	}
	if resp, _ := send(t, http.MethodPost, h.URL+"/function/guarded/_/health", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST to the health path without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := send(t, http.MethodPost, h.URL+"/function/guarded.openfaas-fn", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("protected function named with its namespace: %d, want 401", resp.StatusCode)
	}
}

func TestGateOffWithoutKeys(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("plain", nil, nil))
	waitReady(t, h, "plain", 1)
	if resp, _ := send(t, http.MethodPost, h.URL+"/function/plain", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("plain OpenFaaS call: %d", resp.StatusCode)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	kit := authtest.New(t)
	env := gateEnv(t, kit)
	// one request per 100 s refills nothing while the test runs: the burst is all a client gets
	env["PROVIDER_RATE_LIMIT"], env["PROVIDER_RATE_BURST"] = "0.01", "3"
	h := startProvider(t, env)
	h.deploy(echoSpec("guarded", nil, nil))
	h.deploy(echoSpec("open", nil, map[string]string{"AUTH_PUBLIC": "true"}))
	waitReady(t, h, "guarded", 1)
	waitReady(t, h, "open", 1)

	ada, bob := kit.Bearer(t, "ada", auth.RoleCustomer), kit.Bearer(t, "bob", auth.RoleCustomer)
	for i := range 3 {
		if resp, body := send(t, http.MethodPost, h.URL+"/function/guarded", ada, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := send(t, http.MethodPost, h.URL+"/function/guarded", ada, "")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request over the burst: %d %s, want 429", resp.StatusCode, body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "rate_limited" {
		t.Errorf("429 body %s (%v)", body, err)
	}
	// a token for the same client, freshly issued, is the same client
	if resp, _ := send(t, http.MethodPost, h.URL+"/function/guarded", kit.Bearer(t, "ada", auth.RoleCustomer), ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a new token of the same client: %d, want 429", resp.StatusCode)
	}
	// another client has its own bucket
	if resp, _ := send(t, http.MethodPost, h.URL+"/function/guarded", bob, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("another client: %d, want 200", resp.StatusCode)
	}
	// callers without a token share their address's bucket, on public and protected functions
	codes := []int{}
	for range 4 {
		r, _ := send(t, http.MethodPost, h.URL+"/function/open", "", "")
		codes = append(codes, r.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Errorf("anonymous calls: %v, want three 200 then 429", codes)
	}
	if r, _ := send(t, http.MethodPost, h.URL+"/function/guarded", "", ""); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a call without a token from a limited address: %d, want 429 (before the 401)", r.StatusCode)
	}
	if r, _ := send(t, http.MethodPost, h.URL+"/async-function/open", "", ""); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("async call from a limited address: %d, want 429", r.StatusCode)
	}
	// /system/* is never limited
	for i := range 10 {
		if code := h.system(http.MethodGet, "/system/functions", nil, nil); code != http.StatusOK {
			t.Fatalf("system call %d: %d", i, code)
		}
	}
	if n := metricValue(t, h, `provider_gate_rejections_total{function_name="guarded.openfaas-fn",reason="rate_limited"}`); n != 3 {
		t.Errorf("%v rate-limited calls counted on guarded, want 3", n)
	}
}

// The keys come from a function behind this very provider: the fetch is served in-process,
// so neither the gate nor an exhausted rate limit stands in its way, and a public function at
// zero is woken for it.
func TestGateFetchesKeysFromItsOwnFunction(t *testing.T) {
	kit := authtest.New(t)
	env := defaultEnv(t)
	port := freeTCPPort(t)
	env["PROVIDER_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	env["PROVIDER_AUTH_JWKS_URL"] = fmt.Sprintf("http://localhost:%d/function/keys/secret/jwks", port)
	env["PROVIDER_AUTH_ISSUER"] = authtest.Issuer
	env["PROVIDER_RATE_LIMIT"], env["PROVIDER_RATE_BURST"] = "0.01", "2"
	h := startProvider(t, env)

	pubs := make([]auth.PublicKey, len(kit.Keys))
	for i, k := range kit.Keys {
		pubs[i] = k.PublicKey
	}
	jwks, err := json.Marshal(auth.NewJWKS(pubs))
	if err != nil {
		t.Fatal(err)
	}
	if code := h.system(http.MethodPost, "/system/secrets", types.Secret{Name: "jwks", Value: string(jwks)}, nil); code/100 != 2 {
		t.Fatalf("create secret: %d", code)
	}
	spec := echoSpec("keys", map[string]string{provider.LabelScaleZero: "true", provider.LabelScaleMin: "0"}, map[string]string{"AUTH_PUBLIC": "true"})
	spec.Secrets = []string{"jwks"}
	h.deploy(spec)
	h.deploy(echoSpec("guarded", nil, nil))
	waitReady(t, h, "guarded", 1)
	if code := h.system(http.MethodPost, "/system/scale-function/keys", types.ScaleServiceRequest{ServiceName: "keys", Replicas: 0}, nil); code/100 != 2 {
		t.Fatalf("scale keys to 0: %d", code)
	}
	eventually(t, 20e9, func() error {
		if s := h.status("keys"); len(s.Instances) != 0 {
			return fmt.Errorf("keys has %d instances", len(s.Instances))
		}
		return nil
	})
	// use up this address's anonymous budget
	for range 2 {
		send(t, http.MethodPost, h.URL+"/function/guarded", "", "")
	}
	if r, _ := send(t, http.MethodPost, h.URL+"/function/guarded", "", ""); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("anonymous budget not used up: %d", r.StatusCode)
	}
	resp, body := send(t, http.MethodPost, h.URL+"/function/guarded", kit.Bearer(t, "svc", auth.RoleService), "")
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Fatalf("valid token with keys from the provider's own function: %d %s", resp.StatusCode, body)
	}
}

func TestGateConfigIsChecked(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"both key sources":    {"PROVIDER_AUTH_JWKS_URL": "http://127.0.0.1:1/function/jwks", "PROVIDER_AUTH_PUBLIC_KEYS_FILE": "/x"},
		"negative rate":       {"PROVIDER_RATE_LIMIT": "-1"},
		"not a number":        {"PROVIDER_RATE_BURST": "many"},
		"empty issuer":        {"PROVIDER_AUTH_JWKS_URL": "http://127.0.0.1:1/function/jwks", "PROVIDER_AUTH_ISSUER": ""},
		"no clients":          {"PROVIDER_RATE_MAX_CLIENTS": "0"},
		"infinite rate limit": {"PROVIDER_RATE_LIMIT": "+Inf"},
	} {
		t.Run(name, func(t *testing.T) {
			e := defaultEnv(t)
			for k, v := range env {
				e[k] = v
			}
			if _, err := provider.LoadConfig(t.Context(), envconfig.MapLookuper(e)); err == nil {
				t.Errorf("config %v accepted", env)
			}
		})
	}
}
