package provider_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/infra/provider"
	"github.com/openfaas/faas-provider/types"
)

func TestSystemAPIRefusesRequestsWithoutCredentials(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	for _, path := range []string{"/system/functions", "/system/info", "/system/secrets", "/system/function/x", "/system/logs?name=x"} {
		resp, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, h.URL+path, nil)
		req.SetBasicAuth(h.User, "wrong")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %d, want 401", path, resp.StatusCode)
		}
	}
	if code := h.system(http.MethodGet, "/system/functions", nil, nil); code != http.StatusOK {
		t.Errorf("GET /system/functions with credentials: %d", code)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200 without credentials", path, resp.StatusCode)
		}
	}
	if info, err := os.Stat(filepath.Join(h.P.CredentialsDir(), provider.BasicAuthPasswordFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v, mode %v; want mode 0600", err, info.Mode())
	}
}

func TestDeployOfAnUnresolvableImageIsRefused(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	var body string
	code := h.system(http.MethodPost, "/system/functions", types.FunctionDeployment{Service: "nope", Image: "ghcr.io/faas-commerce/no-such-binary:dev"}, &body)
	if code != http.StatusBadRequest || !strings.Contains(body, "no-such-binary") {
		t.Fatalf("deploy of a missing binary: %d %s; want 400 naming the binary", code, body)
	}
	if code := h.system(http.MethodGet, "/system/function/nope", nil, nil); code != http.StatusNotFound {
		t.Fatalf("refused function exists: %d", code)
	}
}

func TestInvocationForwardsPathQueryAndGatewayHeaders(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("echo", nil, nil))
	waitReady(t, h, "echo", 1)

	code, body, hdr, err := h.invoke("echo", "/a/b?x=1", "hello")
	if err != nil || code != http.StatusOK || body != "hello" {
		t.Fatalf("invoke: %d %q %v", code, body, err)
	}
	if got := hdr.Get("X-Echo-Path"); got != "/a/b?x=1" {
		t.Errorf("function saw path %q, want /a/b?x=1", got)
	}
	if hdr.Get("X-Echo-Call-Id") == "" || hdr.Get("X-Echo-Call-Id") != hdr.Get("X-Call-Id") {
		t.Errorf("X-Call-Id to function %q, to client %q", hdr.Get("X-Echo-Call-Id"), hdr.Get("X-Call-Id"))
	}
	if hdr.Get("X-Echo-Start-Time") == "" {
		t.Error("function got no X-Start-Time")
	}
	_, _, hdr, _ = h.invoke("echo.openfaas-fn", "", "")
	if got := hdr.Get("X-Echo-Path"); got != "/" {
		t.Errorf("NAME.openfaas-fn with no path: function saw %q, want /", got)
	}
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/function/echo", nil)
	req.Header.Set("X-Call-Id", "given-id")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Echo-Call-Id") != "given-id" {
		t.Errorf("a caller's X-Call-Id was replaced: %q", resp.Header.Get("X-Echo-Call-Id"))
	}
	code, body, _, _ = h.invoke("missing", "", "")
	if code != http.StatusNotFound || !strings.Contains(body, "missing") {
		t.Errorf("unknown function: %d %s", code, body)
	}

	resp, err = http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gateway_function_invocation_total{code="200",function_name="echo.openfaas-fn"} 3`,
		`gateway_functions_seconds_count{code="200",function_name="echo.openfaas-fn"} 3`,
		`gateway_function_invocation_started{function_name="echo.openfaas-fn"} 3`,
		`gateway_service_count{function_name="echo.openfaas-fn"} 1`,
		`provider_function_replicas{function_name="echo.openfaas-fn"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSecretsAreFilesForTheFunctionAndNotInItsEnvironment(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	const value = "s3cr3t-value-1234"
	if code := h.system(http.MethodPost, "/system/secrets", types.Secret{Name: "db-password", Value: value}, nil); code != http.StatusCreated {
		t.Fatalf("create secret: %d", code)
	}
	var body string
	if code := h.system(http.MethodPost, "/system/functions", types.FunctionDeployment{Service: "bad", Image: "echo", Secrets: []string{"absent"}}, &body); code != http.StatusBadRequest || !strings.Contains(body, "absent") {
		t.Fatalf("deploy with a missing secret: %d %s", code, body)
	}
	spec := echoSpec("echo", nil, map[string]string{"PLAIN": "visible"})
	spec.Secrets = []string{"db-password"}
	h.deploy(spec)
	waitReady(t, h, "echo", 1)

	code, got, _, err := h.invoke("echo", "/secret/db-password", "")
	if err != nil || code != http.StatusOK || got != value {
		t.Fatalf("function read secret: %d %q %v", code, got, err)
	}
	_, envJSON, _, _ := h.invoke("echo", "/env", "")
	var env []string
	if err := json.Unmarshal([]byte(envJSON), &env); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(envJSON, value) {
		t.Errorf("secret value is in the function's environment: %v", env)
	}
	if !strings.Contains(envJSON, "PLAIN=visible") || !strings.Contains(envJSON, "SECRETS_DIR=") {
		t.Errorf("environment lacks envVars or SECRETS_DIR: %v", env)
	}
	info, err := os.Stat(filepath.Join(h.StateDir, "secrets", "db-password"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v; want mode 0600", err, info)
	}

	if code := h.system(http.MethodPut, "/system/secrets", types.Secret{Name: "db-password", Value: "rotated"}, nil); code != http.StatusOK {
		t.Fatalf("update secret: %d", code)
	}
	eventually(t, 5*time.Second, func() error {
		if _, got, _, _ := h.invoke("echo", "/secret/db-password", ""); got != "rotated" {
			return fmt.Errorf("function reads %q", got)
		}
		return nil
	})
	var list []types.Secret
	h.system(http.MethodGet, "/system/secrets", nil, &list)
	if len(list) != 1 || list[0].Name != "db-password" || list[0].Value != "" {
		t.Errorf("secret list: %+v (values must not be listed)", list)
	}
	if code := h.system(http.MethodDelete, "/system/secrets", types.Secret{Name: "db-password"}, nil); code != http.StatusAccepted {
		t.Fatalf("delete secret: %d", code)
	}
	if code, _, _, _ := h.invoke("echo", "/secret/db-password", ""); code != http.StatusNotFound {
		t.Errorf("removed secret still readable by the function: %d", code)
	}
}

func TestScaleToZeroAndBackStartsOneProcessFor50Requests(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("sleepy", map[string]string{
		provider.LabelScaleZero:         "true",
		provider.LabelScaleZeroDuration: "500ms",
	}, map[string]string{"STARTUP_DELAY": "200ms"}))
	first := waitReady(t, h, "sleepy", 1)
	firstPID := instancePIDs(first)[0]

	eventually(t, 20*time.Second, func() error {
		s := h.status("sleepy")
		if s.Replicas != 0 || len(s.Instances) != 0 || alive(firstPID) {
			return fmt.Errorf("replicas %d, instances %d, first process alive %v", s.Replicas, len(s.Instances), alive(firstPID))
		}
		return nil
	})

	const n = 50
	var wg sync.WaitGroup
	pids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			code, body, hdr, err := h.invoke("sleepy", "", fmt.Sprintf("req-%d", i))
			switch {
			case err != nil:
				errs[i] = err
			case code != http.StatusOK || body != fmt.Sprintf("req-%d", i):
				errs[i] = fmt.Errorf("status %d body %q", code, body)
			}
			if hdr != nil {
				pids[i] = hdr.Get("X-Echo-Pid")
			}
		})
	}
	wg.Wait()
	distinct := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
		}
		distinct[pids[i]] = true
	}
	if len(distinct) != 1 {
		t.Errorf("50 requests at zero were served by %d processes, want 1: %v", len(distinct), distinct)
	}
	s := h.status("sleepy")
	if len(s.Instances) != 1 || s.Replicas != 1 {
		t.Errorf("after cold start: %d instances, %d replicas; want 1", len(s.Instances), s.Replicas)
	}
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `provider_cold_starts_total{function_name="sleepy.openfaas-fn"} 1`) {
		t.Errorf("cold start count is not 1")
	}
	if !strings.Contains(string(metrics), `provider_cold_start_seconds_count{function_name="sleepy.openfaas-fn"} 1`) {
		t.Errorf("cold start duration not observed once")
	}
}

func TestColdStartThatNeverGetsReadyEndsIn503(t *testing.T) {
	env := defaultEnv(t)
	env["PROVIDER_READY_TIMEOUT"] = "300ms"
	h := startProvider(t, env)
	h.deploy(echoSpec("stuck", map[string]string{provider.LabelScaleMin: "0"}, map[string]string{"STARTUP_DELAY": "1h"}))
	code, body, _, err := h.invoke("stuck", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, "stuck") {
		t.Fatalf("got %d %s; want 503 with a JSON error naming the function", code, body)
	}
}

func TestMinMaxHoldAndLoadScalesBetweenThem(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("bounded", map[string]string{
		provider.LabelScaleMin:    "2",
		provider.LabelScaleMax:    "3",
		provider.LabelScaleTarget: "1",
		provider.LabelScaleType:   provider.ScaleCapacity,
	}, nil))
	waitReady(t, h, "bounded", 2)
	served := map[string]bool{}
	for range 10 {
		_, _, hdr, err := h.invoke("bounded", "", "")
		if err != nil {
			t.Fatal(err)
		}
		served[hdr.Get("X-Echo-Pid")] = true
	}
	if len(served) != 2 {
		t.Errorf("10 requests to 2 replicas were served by %d processes", len(served))
	}

	scale := func(n uint64) {
		if code := h.system(http.MethodPost, "/system/scale-function/bounded", types.ScaleServiceRequest{ServiceName: "bounded", Replicas: n}, nil); code != http.StatusAccepted {
			t.Fatalf("scale to %d: %d", n, code)
		}
	}
	scale(10)
	if s := h.status("bounded"); s.Replicas != 3 {
		t.Errorf("scale to 10 with max 3: %d replicas", s.Replicas)
	}
	scale(1)
	if s := h.status("bounded"); s.Replicas != 2 {
		t.Errorf("scale to 1 with min 2: %d replicas", s.Replicas)
	}
	waitReady(t, h, "bounded", 2)

	// load: slow requests in flight, far above target 1 per replica
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.invoke("bounded", "/?sleep=100ms", "")
			}
		})
	}
	eventually(t, 20*time.Second, func() error {
		if s := h.status("bounded"); s.Replicas != 3 {
			return fmt.Errorf("under load: %d replicas, want max 3", s.Replicas)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	eventually(t, 20*time.Second, func() error {
		if s := h.status("bounded"); s.Replicas != 2 || len(s.Instances) != 2 {
			return fmt.Errorf("after load: %d replicas, %d instances, want min 2", s.Replicas, len(s.Instances))
		}
		return nil
	})
	// scale to zero by hand is allowed, and the next request wakes it
	scale(0)
	if code, _, _, _ := h.invoke("bounded", "", ""); code != http.StatusOK {
		t.Errorf("request after scale to 0: %d", code)
	}
	if s := h.status("bounded"); s.Replicas != 2 {
		t.Errorf("woken from zero with min 2: %d replicas", s.Replicas)
	}
}

func TestKilledProcessIsRestarted(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("fragile", nil, nil))
	s := waitReady(t, h, "fragile", 1)
	pid := instancePIDs(s)[0]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		s := h.status("fragile")
		if s.Restarts < 1 || s.AvailableReplicas != 1 {
			return fmt.Errorf("restarts %d, ready %d", s.Restarts, s.AvailableReplicas)
		}
		if p := instancePIDs(s); len(p) != 1 || p[0] == pid {
			return fmt.Errorf("pids %v", p)
		}
		return nil
	})
	if code, _, _, _ := h.invoke("fragile", "", ""); code != http.StatusOK {
		t.Errorf("after restart: %d", code)
	}
	// a crash from inside is restarted too
	h.invoke("fragile", "/crash", "")
	eventually(t, 20*time.Second, func() error {
		if s := h.status("fragile"); s.Restarts < 2 || s.AvailableReplicas != 1 || !strings.Contains(s.Instances[0].LastExit, "exit status 3") {
			return fmt.Errorf("restarts %d ready %d last exit %q", s.Restarts, s.AvailableReplicas, s.Instances[0].LastExit)
		}
		return nil
	})
}

func TestUpdateLosesNoRequestInFlight(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("rolling", map[string]string{provider.LabelScaleMin: "2"}, map[string]string{"VERSION": "1"}))
	waitReady(t, h, "rolling", 2)

	var sawV2 atomic.Bool
	var failures, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				path := "/"
				if i%2 == 0 {
					path = "/?sleep=50ms"
				}
				code, body, hdr, err := h.invoke("rolling", path, "payload")
				total.Add(1)
				if err != nil || code != http.StatusOK || body != "payload" {
					failures.Add(1)
					t.Logf("failed during update: %d %q %v", code, body, err)
					continue
				}
				if hdr.Get("X-Echo-Version") == "2" {
					sawV2.Store(true)
				}
			}
		})
	}
	eventually(t, 10*time.Second, func() error {
		if total.Load() < 50 {
			return fmt.Errorf("%d requests so far", total.Load())
		}
		return nil
	})
	spec := echoSpec("rolling", map[string]string{provider.LabelScaleMin: "2"}, map[string]string{"VERSION": "2"})
	spec.Image = "ghcr.io/faas-commerce/echo-v2:dev"
	if code := h.system(http.MethodPut, "/system/functions", spec, nil); code != http.StatusAccepted {
		t.Fatalf("update: %d", code)
	}
	eventually(t, 20*time.Second, func() error {
		s := h.status("rolling")
		if !sawV2.Load() || len(s.Instances) != 2 || s.Image != spec.Image {
			return fmt.Errorf("v2 seen %v, %d instances", sawV2.Load(), len(s.Instances))
		}
		return nil
	})
	before := total.Load()
	eventually(t, 10*time.Second, func() error {
		if total.Load() < before+50 {
			return fmt.Errorf("%d requests after the update", total.Load()-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the update", failures.Load(), total.Load())
	}
	if code := h.system(http.MethodPut, "/system/functions", echoSpec("absent", nil, nil), nil); code != http.StatusNotFound {
		t.Errorf("update of an absent function: %d, want 404", code)
	}
}

func TestDeleteAndShutdownStopEveryProcess(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("one", map[string]string{provider.LabelScaleMin: "2"}, nil))
	h.deploy(echoSpec("two", nil, nil))
	pidsOne := instancePIDs(waitReady(t, h, "one", 2))
	pidsTwo := instancePIDs(waitReady(t, h, "two", 1))

	if code := h.system(http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "one"}, nil); code != http.StatusAccepted {
		t.Fatalf("delete: %d", code)
	}
	for _, pid := range pidsOne {
		if alive(pid) {
			t.Errorf("process %d of a deleted function is alive", pid)
		}
	}
	var list []provider.FunctionStatus
	h.system(http.MethodGet, "/system/functions", nil, &list)
	if len(list) != 1 || list[0].Name != "two" {
		t.Errorf("list after delete: %+v", list)
	}
	h.stop()
	for _, pid := range pidsTwo {
		if alive(pid) {
			t.Errorf("process %d outlived the provider's shutdown", pid)
		}
	}
}

func TestLogsFollowSinceAndTail(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	h.deploy(echoSpec("talky", nil, nil))
	waitReady(t, h, "talky", 1)
	for i := range 3 {
		h.invoke("talky", fmt.Sprintf("/log?msg=line-%d", i), "")
	}
	lines := func(query string) []string {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/system/logs?name=talky&"+query, nil)
		req.SetBasicAuth(h.User, h.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []string
		dec := json.NewDecoder(resp.Body)
		for {
			var m struct{ Text, Instance string }
			if dec.Decode(&m) != nil {
				return out
			}
			out = append(out, m.Text)
		}
	}
	all := lines("")
	if n := strings.Count(strings.Join(all, "\n"), "line-2"); n != 2 {
		t.Errorf("stdout and stderr lines with line-2: %d in %v", n, all)
	}
	if tail := lines("tail=2"); len(tail) != 2 || !strings.Contains(tail[1], "line-2") {
		t.Errorf("tail=2: %v", tail)
	}
	if since := lines("since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(since) != 0 {
		t.Errorf("since the future: %v", since)
	}

	req, _ := http.NewRequest(http.MethodGet, h.URL+"/system/logs?name=talky&follow=true&tail=1", nil)
	req.SetBasicAuth(h.User, h.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	got := make(chan string, 16)
	go func() {
		for {
			var m struct{ Text string }
			if dec.Decode(&m) != nil {
				close(got)
				return
			}
			got <- m.Text
		}
	}()
	<-got // the tail line
	h.invoke("talky", "/log?msg=followed", "")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-got:
			if strings.Contains(line, "followed") {
				return
			}
		case <-deadline:
			t.Fatal("follow did not deliver a new line")
		}
	}
}

func TestMemoryLimitReachesTheProcess(t *testing.T) {
	h := startProvider(t, defaultEnv(t))
	spec := echoSpec("limited", nil, nil)
	spec.Limits = &types.FunctionResources{Memory: "64Mi"}
	h.deploy(spec)
	waitReady(t, h, "limited", 1)
	_, env, _, _ := h.invoke("limited", "/env", "")
	if !strings.Contains(env, fmt.Sprintf("GOMEMLIMIT=%d", 64<<20*9/10)) {
		t.Errorf("GOMEMLIMIT not set from limits.memory: %s", env)
	}
	var body string
	spec.Limits.Memory = "lots"
	if code := h.system(http.MethodPut, "/system/functions", spec, &body); code != http.StatusBadRequest {
		t.Errorf("bad memory limit: %d %s", code, body)
	}
}
