package platform

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/go-sdk/stack"
	"gopkg.in/yaml.v3"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/identity"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// Options change how the platform is started.
type Options struct {
	// Env is added to every function's environment (after the dev settings).
	Env map[string]string
	// FunctionEnv is added to one function's environment.
	FunctionEnv map[string]map[string]string
	// Labels are added to every function's labels (e.g. a short zero-duration).
	Labels map[string]string
	// PaymentSim is added to the payment simulator's environment.
	PaymentSim map[string]string
	// Connector is added to the connector's environment.
	Connector map[string]string
	// Relay is added to the relay's environment.
	Relay map[string]string
	// AMQPBaseURL is the RabbitMQ node to use, without a vhost (e.g. a private node's
	// "amqp://guest:guest@127.0.0.1:PORT/"); empty means the machine's node on 5672.
	AMQPBaseURL string
	// RabbitNode is that node's name for rabbitmqctl -n (vhost management); empty means the
	// default node.
	RabbitNode string
	// DB is the platform's database when set (e.g. one on a private server from
	// StartPostgres); else a fresh one on the machine's server (pgtest).
	DB *pgtest.DB
	// ProviderGate turns on the provider's token gate as make up does: tokens are checked
	// against the platform's jwks function and issuer before a protected function is called.
	ProviderGate bool
	// Provider is added to the provider's environment (e.g. PROVIDER_RATE_LIMIT).
	Provider map[string]string
}

// Platform is a running platform.
type Platform struct {
	// Gateway is the provider's base URL (the OpenFaaS API and /function/NAME).
	Gateway string
	// DB is the platform's database (the test's own).
	DB *pgtest.DB
	// Vhost is the RabbitMQ vhost, AMQPURL its URL.
	Vhost, AMQPURL string
	// PaymentURL, SMSURL and MailURL are the simulators' HTTP APIs; TraceURL is the trace sink.
	PaymentURL, SMSURL, MailURL, TraceURL string
	// ConnectorMetrics and RelayMetrics are their /metrics URLs.
	ConnectorMetrics, RelayMetrics string
	// PaymentAPIKey is the payment simulator's API key (Bearer) for GET /v1/charges.
	PaymentAPIKey string
	// RabbitNode is the rabbitmqctl node name of the platform's RabbitMQ ("" = the default).
	RabbitNode string
	// Procs are the running programs by name: provider, relay, rabbitmq-connector,
	// paymentsim, smssim, mailsim, tracesink.
	Procs map[string]*Proc
	// Functions are the deployed functions by name, and QueueFunctions those with a topic.
	Functions      []string
	QueueFunctions []string

	state     string
	user      string
	password  string
	issuer    *auth.Issuer
	client    *http.Client
	adminCred [2]string
}

// Start builds (once) and starts the platform for t; it stops when t ends.
func Start(t testing.TB, opts Options) *Platform {
	t.Helper()
	bin, err := Build()
	if err != nil {
		t.Fatalf("build the platform: %v", err)
	}
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := &Platform{state: t.TempDir(), Procs: map[string]*Proc{}, client: &http.Client{Timeout: 60 * time.Second}}
	t.Cleanup(func() {
		p.stopAll()
		if t.Failed() {
			for name, pr := range p.Procs {
				t.Logf("--- last lines of %s ---\n%s", name, tail(pr.Log()))
			}
		}
	})
	p.DB = opts.DB
	if p.DB == nil {
		p.DB = pgtest.New(t)
	}
	p.Vhost = "fc-e2e-" + strings.ToLower(rand.Text()[:10])
	amqpBase := "amqp://guest:guest@127.0.0.1:5672/"
	if opts.AMQPBaseURL != "" {
		amqpBase = strings.TrimSuffix(opts.AMQPBaseURL, "/") + "/"
	}
	p.AMQPURL = amqpBase + url.PathEscape(p.Vhost)
	p.RabbitNode = opts.RabbitNode
	p.rabbitmqctl(t, "add_vhost", p.Vhost)
	t.Cleanup(func() { p.rabbitmqctl(t, "delete_vhost", p.Vhost) })
	p.rabbitmqctl(t, "set_permissions", "-p", p.Vhost, "guest", ".*", ".*", ".*")

	// Keys and clients: what `make up` makes with identity-admin.
	signing, err := auth.NewEd25519PEM()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParsePrivateKeys(signing)
	if err != nil {
		t.Fatal(err)
	}
	public, err := auth.EncodePublicKeys([]auth.PublicKey{keys[0].PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewStore(p.DB.Pool)
	connectorSecret, err := ids.PutClient(ctx, identity.Client{ID: "connector", Name: "RabbitMQ connector", Roles: []string{"service"}})
	if err != nil {
		t.Fatal(err)
	}
	adminSecret, err := ids.PutClient(ctx, identity.Client{ID: "admin", Name: "Operator", Roles: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	p.adminCred = [2]string{"admin", adminSecret}

	// The outside parts.
	payPort, smsPort, smtpPort, mailPort, tracePort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	apiKey := rand.Text()
	p.PaymentAPIKey = apiKey
	apiKeyFile := writeFile(t, filepath.Join(p.state, "sims"), "payment-api-key", []byte(apiKey))
	p.PaymentURL, p.SMSURL = "http://"+addr(payPort), "http://"+addr(smsPort)
	p.MailURL, p.TraceURL = "http://"+addr(mailPort), "http://"+addr(tracePort)
	paymentEnv := map[string]string{"PAYMENTSIM_ADDR": addr(payPort), "PAYMENTSIM_API_KEY_FILE": apiKeyFile, "PAYMENTSIM_DECLINE_SUFFIX": "13"}
	maps.Copy(paymentEnv, opts.PaymentSim)
	p.start(t, bin, "paymentsim", paymentEnv, p.PaymentURL+"/healthz")
	p.start(t, bin, "smssim", map[string]string{"SMSSIM_ADDR": addr(smsPort)}, p.SMSURL+"/healthz")
	p.start(t, bin, "mailsim", map[string]string{"MAILSIM_SMTP_ADDR": addr(smtpPort), "MAILSIM_HTTP_ADDR": addr(mailPort)}, p.MailURL+"/healthz")
	p.start(t, bin, "tracesink", map[string]string{"TRACESINK_ADDR": addr(tracePort)}, p.TraceURL+"/healthz")

	// The provider, with the functions' secrets.
	gwPort := freePort(t)
	p.Gateway = "http://" + addr(gwPort)
	provState := filepath.Join(p.state, "provider")
	provEnv := map[string]string{
		"PROVIDER_ADDR": addr(gwPort), "PROVIDER_STATE_DIR": provState, "FUNCTIONS_BIN_DIR": bin,
		"ASYNC_AMQP_URL": p.AMQPURL, "PROVIDER_SCALE_INTERVAL": "200ms",
	}
	if opts.ProviderGate {
		provEnv["PROVIDER_AUTH_JWKS_URL"] = p.Gateway + "/function/jwks"
		provEnv["PROVIDER_AUTH_ISSUER"] = p.Gateway + "/function/issue-token"
	}
	maps.Copy(provEnv, opts.Provider)
	p.start(t, bin, "provider", provEnv, p.Gateway+"/healthz")
	p.user = readTrim(t, filepath.Join(provState, "auth", "basic-auth-user"))
	p.password = readTrim(t, filepath.Join(provState, "auth", "basic-auth-password"))
	for name, value := range map[string][]byte{
		"database-url": []byte(p.DB.URL), "jwt-signing-keys": signing, "jwt-public-keys": public,
		"payment-api-key": []byte(apiKey),
	} {
		p.system(t, http.MethodPost, "/system/secrets", map[string]string{"name": name, "value": string(value)})
	}
	p.issuer, err = auth.NewIssuer(keys, p.Gateway+"/function/issue-token", "faas-commerce", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	// Every function of stack.yml, with the dev settings pointed at this platform.
	env := map[string]string{
		"GATEWAY_URL": p.Gateway, "AUTH_ISSUER": p.Gateway + "/function/issue-token",
		"AUTH_JWKS_URL": p.Gateway + "/function/jwks", "PAYMENT_PROVIDER_URL": p.PaymentURL,
		"SMS_PROVIDER_URL": p.SMSURL, "SMTP_ADDR": addr(smtpPort), "OTEL_TRACES_EXPORTER": "zipkin",
		"OTEL_EXPORTER_ZIPKIN_ENDPOINT": p.TraceURL + "/api/v2/spans", "OTEL_BSP_SCHEDULE_DELAY": "100",
		"LOG_LEVEL": "info",
	}
	maps.Copy(env, opts.Env)
	p.deploy(t, root, env, opts)

	// The relay and the connector.
	relayPort, connPort := freePort(t), freePort(t)
	p.RelayMetrics, p.ConnectorMetrics = "http://"+addr(relayPort)+"/metrics", "http://"+addr(connPort)+"/metrics"
	relaySecrets := filepath.Join(p.state, "relay-secrets")
	writeFile(t, relaySecrets, "database-url", []byte(p.DB.URL))
	relayEnv := map[string]string{"AMQP_URL": p.AMQPURL, "RELAY_METRICS_ADDR": addr(relayPort), "SECRETS_DIR": relaySecrets, "RELAY_POLL_INTERVAL": "200ms", "RELAY_RETRY_BASE": "100ms", "RELAY_RETRY_CAP": "2s"}
	maps.Copy(relayEnv, opts.Relay)
	p.start(t, bin, "relay", relayEnv, "http://"+addr(relayPort)+"/healthz")
	connSecrets := filepath.Join(p.state, "connector-secrets")
	writeFile(t, connSecrets, "basic-auth-user", []byte(p.user))
	writeFile(t, connSecrets, "basic-auth-password", []byte(p.password))
	writeFile(t, connSecrets, "auth-client-id", []byte("connector"))
	writeFile(t, connSecrets, "auth-client-secret", []byte(connectorSecret))
	connEnv := map[string]string{
		"GATEWAY_URL": p.Gateway, "AMQP_URL": p.AMQPURL, "QUEUE_PREFIX": "fc-e2e.", "REFRESH_INTERVAL": "1s",
		"CONNECTOR_METRICS_ADDR": addr(connPort), "SECRETS_DIR": connSecrets,
		"AUTH_TOKEN_URL": p.Gateway + "/function/issue-token/token", "RETRY_BASE": "100ms", "RETRY_CAP": "2s",
	}
	maps.Copy(connEnv, opts.Connector)
	p.start(t, bin, "rabbitmq-connector", connEnv, "http://"+addr(connPort)+"/healthz")
	p.WaitMetric(t, p.ConnectorMetrics, "connector_functions", func(v float64) bool { return int(v) == len(p.QueueFunctions) }, time.Minute)
	return p
}

func (p *Platform) start(t testing.TB, bin, name string, env map[string]string, health string) {
	t.Helper()
	env = p.withTracing(name, env)
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	pr := newProc(name, filepath.Join(bin, name), filepath.Join(p.state, name+".log"), kv)
	if err := pr.Start(); err != nil {
		t.Fatal(err)
	}
	p.Procs[name] = pr
	if err := waitHTTP(context.Background(), pr, health, time.Minute); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, tail(pr.Log()))
	}
}

// Restart starts a stopped or killed program again and waits for its health check.
func (p *Platform) Restart(t testing.TB, name string) {
	t.Helper()
	pr := p.Procs[name]
	if err := pr.Start(); err != nil {
		t.Fatal(err)
	}
	health := map[string]string{
		"relay": strings.TrimSuffix(p.RelayMetrics, "/metrics") + "/healthz", "rabbitmq-connector": strings.TrimSuffix(p.ConnectorMetrics, "/metrics") + "/healthz",
		"provider": p.Gateway + "/healthz", "paymentsim": p.PaymentURL + "/healthz",
	}[name]
	if health != "" {
		if err := waitHTTP(context.Background(), pr, health, time.Minute); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, tail(pr.Log()))
		}
	}
}

func (p *Platform) stopAll() {
	// The connector and the relay first, so nothing is mid-delivery to a stopped provider.
	for _, name := range []string{"rabbitmq-connector", "relay", "provider", "paymentsim", "smssim", "mailsim", "tracesink"} {
		if pr, ok := p.Procs[name]; ok {
			pr.Stop(15 * time.Second)
		}
	}
}

// deploy deploys every function of stack.yml through the provider's API.
func (p *Platform) deploy(t testing.TB, root string, env map[string]string, opts Options) {
	t.Helper()
	s, err := stack.ParseYAMLFile(filepath.Join(root, "stack.yml"), "", "", true)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range s.Functions {
		vars := map[string]string{}
		for _, file := range f.EnvironmentFile {
			var ef stack.EnvironmentFile
			b, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(b, &ef); err != nil {
				t.Fatal(err)
			}
			maps.Copy(vars, ef.Environment)
		}
		maps.Copy(vars, f.Environment)
		maps.Copy(vars, env)
		maps.Copy(vars, opts.FunctionEnv[name])
		labels := map[string]string{}
		if f.Labels != nil {
			maps.Copy(labels, *f.Labels)
		}
		maps.Copy(labels, opts.Labels)
		annotations := map[string]string{}
		if f.Annotations != nil {
			maps.Copy(annotations, *f.Annotations)
		}
		p.system(t, http.MethodPost, "/system/functions", map[string]any{
			"service": name, "image": f.Image, "envVars": vars, "labels": labels,
			"annotations": annotations, "secrets": f.Secrets,
		})
		p.Functions = append(p.Functions, name)
		if annotations["topic"] != "" {
			p.QueueFunctions = append(p.QueueFunctions, name)
		}
	}
	for _, name := range p.Functions {
		if err := waitHTTP(context.Background(), p.Procs["provider"], p.Gateway+"/function/"+name+"/_/health", time.Minute); err != nil {
			t.Fatalf("function %s: %v\n%s", name, err, tail(p.Procs["provider"].Log()))
		}
	}
}

// system calls the provider's /system API with the admin credentials.
func (p *Platform) system(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, p.Gateway+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(p.user, p.password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// System is the /system API for tests (scale, status, ...).
func (p *Platform) System(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	return p.system(t, method, path, body)
}

// Token mints an access token signed with the platform's key.
func (p *Platform) Token(t testing.TB, subject string, roles ...auth.Role) string {
	t.Helper()
	tok, err := p.issuer.Issue(subject, "e2e", roles)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// AdminToken gets an admin token from issue-token with the admin client's credentials, as an
// operator would.
func (p *Platform) AdminToken(t testing.TB) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequest(http.MethodPost, p.Gateway+"/function/issue-token/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.adminCred[0], p.adminCred[1])
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("admin token: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

// Response is a function's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not the expected JSON: %v\n%s", err, r.Body)
	}
}

// Call sends a request to /function/<path> with token (none when "") and a JSON body (nil for
// none); headers are name, value pairs.
func (p *Platform) Call(t testing.TB, method, path, token string, body any, headers ...string) Response {
	t.Helper()
	r, err := p.TryCall(context.Background(), method, path, token, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// TryCall is Call returning the transport error instead of failing the test.
func (p *Platform) TryCall(ctx context.Context, method, path, token string, body any, headers ...string) (Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.Gateway+"/function/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// Metric reads one sample (sum over label sets matching every given label=value) from a
// Prometheus text endpoint.
func Metric(metricsURL, name string, labels ...string) (float64, error) {
	resp, err := http.Get(metricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(line, labels[i]+`="`+labels[i+1]+`"`) {
				match = false
			}
		}
		if !match {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// WaitMetric polls a metric until ok holds for it or timeout passes.
func (p *Platform) WaitMetric(t testing.TB, metricsURL, name string, ok func(float64) bool, timeout time.Duration, labels ...string) float64 {
	t.Helper()
	var (
		v   float64
		err error
	)
	Eventually(t, timeout, func() bool {
		v, err = Metric(metricsURL, name, labels...)
		return err == nil && ok(v)
	}, func() string { return fmt.Sprintf("%s %v = %v (%v)", name, labels, v, err) })
	return v
}

// Eventually polls cond every 20ms until it holds, failing the test with what() after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func (p *Platform) rabbitmqctl(t testing.TB, args ...string) {
	t.Helper()
	pre := []string{"-q"}
	if p.RabbitNode != "" {
		pre = append(pre, "-n", p.RabbitNode)
	}
	out, err := exec.Command("rabbitmqctl", append(pre, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func readTrim(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// tail returns the last lines of a log, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
