// Package bench measures the local provider against baselines taken in the same run: cold start
// beside a bare exec of the same binary, warm invocations beside a direct call and one
// httputil.ReverseProxy hop (load from hey), and the resident memory of a function process and
// of the provider.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Config says what to run and for how long.
type Config struct {
	ProviderBin string        // the provider program
	FunctionBin string        // the function binary deployed and exec'd bare
	HeyBin      string        // the load generator
	Duration    time.Duration // per warm load run
	Concurrency int           // hey -c
	ColdRuns    int           // cold starts and bare execs measured
}

// Run measures and writes the report to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	work, err := os.MkdirTemp("", "provider-bench-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)
	binDir := filepath.Join(work, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("bin dir: %w", err)
	}
	fnBin, err := filepath.Abs(cfg.FunctionBin)
	if err != nil {
		return err
	}
	if err := os.Symlink(fnBin, filepath.Join(binDir, "bench-fn")); err != nil {
		return fmt.Errorf("link function: %w", err)
	}

	fmt.Fprintln(out, "==> starting the provider")
	prov, err := startProvider(ctx, cfg.ProviderBin, work, binDir)
	if err != nil {
		return err
	}
	defer prov.stop()

	fmt.Fprintln(out, "==> deploying bench-fn (one replica, no autoscaling)")
	labels := map[string]string{"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "1"}
	if err := prov.api(ctx, http.MethodPost, "/system/functions", map[string]any{
		"service": "bench-fn", "image": "bench/bench-fn:latest", "labels": labels,
	}, nil); err != nil {
		return err
	}
	st, err := prov.waitInstances(ctx, 1)
	if err != nil {
		return err
	}
	idleFnRSS := rss(st.Instances[0].PID)

	fmt.Fprintf(out, "==> cold start through the provider, %d runs\n", cfg.ColdRuns)
	var cold []time.Duration
	for range cfg.ColdRuns {
		d, err := prov.coldStart(ctx)
		if err != nil {
			return err
		}
		cold = append(cold, d)
	}
	fmt.Fprintf(out, "==> bare exec to first response, %d runs\n", cfg.ColdRuns)
	var bare []time.Duration
	for range cfg.ColdRuns {
		d, err := bareExec(ctx, fnBin)
		if err != nil {
			return err
		}
		bare = append(bare, d)
	}

	st, err = prov.waitInstances(ctx, 1)
	if err != nil {
		return err
	}
	direct := "http://" + st.Instances[0].Address + "/"
	target, _ := url.Parse(direct)
	hop, err := serveReverseProxy(target)
	if err != nil {
		return err
	}
	defer hop.Close()

	runs := []struct{ name, url string }{
		{"direct to the function process", direct},
		{"one httputil.ReverseProxy hop", "http://" + hop.Addr + "/"},
		{"through the provider", prov.url + "/function/bench-fn/"},
	}
	results := make([]heyResult, len(runs))
	for i, r := range runs {
		fmt.Fprintf(out, "==> warm load: %s (hey -c %d -z %s)\n", r.name, cfg.Concurrency, cfg.Duration)
		if results[i], err = runHey(ctx, cfg, r.url); err != nil {
			return err
		}
	}
	st, err = prov.status(ctx)
	if err != nil {
		return err
	}
	loadedFnRSS := rss(st.Instances[0].PID)
	provRSS := rss(int64(prov.cmd.Process.Pid))

	c50, c95 := percentile(cold, 50), percentile(cold, 95)
	b50, b95 := percentile(bare, 50), percentile(bare, 95)
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cold start\tp50\tp95\t\n")
	fmt.Fprintf(tw, "request at 0 replicas -> response (provider)\t%s\t%s\t\n", ms(c50), ms(c95))
	fmt.Fprintf(tw, "bare exec -> first response (same binary)\t%s\t%s\t\n", ms(b50), ms(b95))
	fmt.Fprintf(tw, "ratio provider / bare exec\t%.2fx\t%.2fx\t\n", ratio(c50, b50), ratio(c95, b95))
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "warm, %d concurrent, %s each\treq/s\tp50\tp99\treq/s vs direct\treq/s vs proxy hop\t\n", cfg.Concurrency, cfg.Duration)
	for i, r := range runs {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.2fx\t%.2fx\t\n", r.name, results[i].rps, ms(results[i].p50), ms(results[i].p99),
			results[i].rps/results[0].rps, results[i].rps/results[1].rps)
	}
	tw.Flush()
	fmt.Fprintln(out)
	fmt.Fprintf(out, "RSS: function process idle %s, after load %s; provider after load %s\n", mib(idleFnRSS), mib(loadedFnRSS), mib(provRSS))
	return nil
}

type provider struct {
	cmd      *exec.Cmd
	url      string
	password string
	exited   chan struct{}
}

func startProvider(ctx context.Context, bin, work, binDir string) (*provider, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	state := filepath.Join(work, "state")
	log, err := os.Create(filepath.Join(work, "provider.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		fmt.Sprintf("PROVIDER_ADDR=127.0.0.1:%d", port),
		"PROVIDER_STATE_DIR=" + state,
		"FUNCTIONS_BIN_DIR=" + binDir,
		"PROVIDER_SCALE_INTERVAL=50ms",
		"ASYNC_AMQP_URL=",
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start provider: %w", err)
	}
	p := &provider{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(p.exited) }()
	err = poll(ctx, 15*time.Second, func() bool {
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("provider did not start (log %s): %w", log.Name(), err)
	}
	b, err := os.ReadFile(filepath.Join(state, "auth", "basic-auth-password"))
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("read password: %w", err)
	}
	p.password = strings.TrimSpace(string(b))
	return p, nil
}

func (p *provider) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

func (p *provider) api(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth("admin", p.password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type status struct {
	Instances []struct {
		PID     int64  `json:"pid"`
		Address string `json:"address"`
		Ready   bool   `json:"ready"`
	} `json:"instances"`
}

func (p *provider) status(ctx context.Context) (status, error) {
	var s status
	err := p.api(ctx, http.MethodGet, "/system/function/bench-fn", nil, &s)
	return s, err
}

// waitInstances waits until the function has n instances, all ready.
func (p *provider) waitInstances(ctx context.Context, n int) (status, error) {
	var s status
	var lastErr error
	err := poll(ctx, 30*time.Second, func() bool {
		s, lastErr = p.status(ctx)
		if lastErr != nil || len(s.Instances) != n {
			return false
		}
		for _, in := range s.Instances {
			if !in.Ready {
				return false
			}
		}
		return true
	})
	if err != nil {
		return s, fmt.Errorf("wait for %d ready instances: %w (last error %v)", n, err, lastErr)
	}
	return s, nil
}

// coldStart scales the function to zero, waits until its process is gone and times one request.
func (p *provider) coldStart(ctx context.Context) (time.Duration, error) {
	if err := p.api(ctx, http.MethodPost, "/system/scale-function/bench-fn", map[string]any{"serviceName": "bench-fn", "replicas": 0}, nil); err != nil {
		return 0, err
	}
	if _, err := p.waitInstances(ctx, 0); err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := http.Get(p.url + "/function/bench-fn/")
	if err != nil {
		return 0, fmt.Errorf("cold request: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("cold request: %d", resp.StatusCode)
	}
	return took, nil
}

// bareExec times exec of the binary to its first 200 on /, polling every 200µs.
func bareExec(ctx context.Context, bin string) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PORT=" + strconv.Itoa(port), "BIND_ADDR=127.0.0.1", "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	u := fmt.Sprintf("http://127.0.0.1:%d/", port)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("exec %s: %w", bin, err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	deadline := start.Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, errors.New("bare exec: no answer within 10s")
}

func serveReverseProxy(target *url.URL) (*http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: rp}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

type heyResult struct {
	rps      float64
	p50, p99 time.Duration
}

var (
	heyRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	heyLatency = regexp.MustCompile(`(\d+)%+ in ([0-9.]+) secs`)
)

func runHey(ctx context.Context, cfg Config, u string) (heyResult, error) {
	out, err := exec.CommandContext(ctx, cfg.HeyBin, "-z", cfg.Duration.String(), "-c", strconv.Itoa(cfg.Concurrency), u).CombinedOutput()
	if err != nil {
		return heyResult{}, fmt.Errorf("hey %s: %w\n%s", u, err, out)
	}
	var r heyResult
	m := heyRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("hey output has no Requests/sec:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, m := range heyLatency.FindAllSubmatch(out, -1) {
		secs, _ := strconv.ParseFloat(string(m[2]), 64)
		d := time.Duration(secs * float64(time.Second))
		switch string(m[1]) {
		case "50":
			r.p50 = d
		case "99":
			r.p99 = d
		}
	}
	if bytes.Contains(out, []byte("Status code distribution:")) && !bytes.Contains(out, []byte("[200]")) {
		return r, fmt.Errorf("hey saw no 200 answers from %s:\n%s", u, out)
	}
	if bytes.Contains(out, []byte("Error distribution:")) {
		return r, fmt.Errorf("hey saw errors from %s:\n%s", u, out)
	}
	return r, nil
}

func poll(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func rss(pid int64) int64 {
	b, err := os.ReadFile("/proc/" + strconv.FormatInt(pid, 10) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mib(b int64) string        { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
