package provider_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/infra/amqpqueue"
	"github.com/google/uuid"
)

const testAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

// asyncEnv turns async invocation on with queue and exchange names of this test only.
func asyncEnv(t *testing.T) map[string]string {
	env := defaultEnv(t)
	suffix := uuid.NewString()[:8]
	env["ASYNC_AMQP_URL"] = testAMQPURL
	env["ASYNC_EXCHANGE"] = "test.provider.async." + suffix
	env["ASYNC_QUEUE"] = "test.provider.async-calls." + suffix
	env["ASYNC_MAX_ATTEMPTS"] = "3"
	env["ASYNC_RETRY_BACKOFF"] = "20ms"
	t.Cleanup(func() {
		if err := amqpqueue.Delete(testAMQPURL, env["ASYNC_EXCHANGE"], env["ASYNC_QUEUE"]); err != nil {
			t.Errorf("delete test queue: %v", err)
		}
	})
	return env
}

type callback struct {
	header http.Header
	body   string
}

func callbackServer(t *testing.T) (string, <-chan callback) {
	got := make(chan callback, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- callback{header: r.Header.Clone(), body: string(b)}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

func waitConnected(t *testing.T, h *harness) {
	t.Helper()
	select {
	case <-h.P.AsyncConnected():
	case <-time.After(20 * time.Second):
		t.Fatal("provider did not connect to RabbitMQ at " + testAMQPURL + " (start it: rabbitmq-server -detached)")
	}
}

func postAsync(t *testing.T, h *harness, path, body, callbackURL string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/async-function/"+path, strings.NewReader(body))
	req.Header.Set("X-Callback-Url", callbackURL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Call-Id") == "" {
		t.Fatalf("async call: %d %s (X-Call-Id %q)", resp.StatusCode, msg, resp.Header.Get("X-Call-Id"))
	}
	return resp.Header.Get("X-Call-Id")
}

func waitCallback(t *testing.T, got <-chan callback) callback {
	t.Helper()
	select {
	case c := <-got:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no callback")
		return callback{}
	}
}

func TestAsyncCallIsKeptInRabbitMQAcrossAProviderRestart(t *testing.T) {
	env := asyncEnv(t)
	cbURL, got := callbackServer(t)

	// the first provider only queues: the call must outlive it
	env["ASYNC_CONSUME"] = "false"
	first := startProvider(t, env)
	first.deploy(echoSpec("echo", nil, nil))
	waitConnected(t, first)
	callID := postAsync(t, first, "echo/some/path?x=1", "async-body", cbURL)
	first.stop()

	env["ASYNC_CONSUME"] = "true"
	startProvider(t, env) // same state dir: the deployment is restored
	c := waitCallback(t, got)
	if c.header.Get("X-Call-Id") != callID || c.header.Get("X-Function-Status") != "200" || c.body != "async-body" {
		t.Fatalf("callback: %v %q; want call id %s, status 200", c.header, c.body, callID)
	}
	if d, err := strconv.ParseFloat(c.header.Get("X-Duration-Seconds"), 64); err != nil || d < 0 {
		t.Errorf("X-Duration-Seconds %q", c.header.Get("X-Duration-Seconds"))
	}
}

func TestAsyncCallIsRetriedOn5xxThenReported(t *testing.T) {
	h := startProvider(t, asyncEnv(t))
	cbURL, got := callbackServer(t)
	h.deploy(echoSpec("echo", nil, nil))
	waitConnected(t, h)

	callID := postAsync(t, h, "echo/status/503", "", cbURL)
	c := waitCallback(t, got)
	if c.header.Get("X-Call-Id") != callID || c.header.Get("X-Function-Status") != "503" {
		t.Fatalf("callback: %v", c.header)
	}
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gateway_function_invocation_total{code="503",function_name="echo.openfaas-fn"} 3`,
		`provider_async_calls_total{function_name="echo.openfaas-fn",outcome="retried"} 2`,
		`provider_async_calls_total{function_name="echo.openfaas-fn",outcome="failed"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	callID = postAsync(t, h, "echo", "fine", cbURL)
	c = waitCallback(t, got)
	if c.header.Get("X-Call-Id") != callID || c.header.Get("X-Function-Status") != "200" || c.body != "fine" {
		t.Fatalf("callback after success: %v %q", c.header, c.body)
	}
}
