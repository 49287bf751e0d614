package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// replica is one process of a function, restarted with back-off when it crashes.
type replica struct {
	f        *function
	id       string // instance name in logs and status
	addr     atomic.Pointer[string]
	metrics  atomic.Pointer[string] // where the process serves /metrics (METRICS_ADDR), to dial
	pid      atomic.Int64
	ready    atomic.Bool
	inflight atomic.Int64
	restarts atomic.Int64
	lastExit atomic.Pointer[string]

	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
}

// launch holds what one process start needs, copied from the function under its lock.
type launch struct {
	binary     string
	env        []string
	dir        string
	secretsDir string
	secrets    []string
}

func (r *replica) stop() {
	r.stopOnce.Do(func() { close(r.stopCh) })
	<-r.done
}

func (r *replica) stopping() bool {
	select {
	case <-r.stopCh:
		return true
	default:
		return false
	}
}

// run supervises the replica until stop: start, wait for health, restart on exit.
func (r *replica) run() {
	defer close(r.done)
	p := r.f.p
	backoff := 100 * time.Millisecond
	for !r.stopping() {
		started := time.Now()
		cmd, exited, err := r.start()
		if err != nil {
			p.log.Error("start replica", "function", r.f.name, "instance", r.id, "error", err)
			msg := err.Error()
			r.lastExit.Store(&msg)
		} else {
			if r.supervise(cmd, exited) {
				return
			}
		}
		r.restarts.Add(1)
		p.metrics.restarts.WithLabelValues(r.f.metricName()).Inc()
		if time.Since(started) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-r.stopCh:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.cfg.RestartBackoffMax)
	}
}

// supervise waits for the process to become healthy and then to exit or be stopped. It reports
// whether the replica was stopped (true) or the process ended by itself (false).
func (r *replica) supervise(cmd *exec.Cmd, exited <-chan error) bool {
	p := r.f.p
	healthCtx, cancelHealth := context.WithCancel(context.Background())
	healthy := make(chan struct{})
	go func() {
		if r.waitHealthy(healthCtx) {
			close(healthy)
		}
	}()
	defer cancelHealth()
	for {
		select {
		case <-healthy:
			healthy = nil
			r.ready.Store(true)
			r.f.replicaReady(r)
		case err := <-exited:
			r.ready.Store(false)
			msg := exitText(err)
			r.lastExit.Store(&msg)
			if r.stopping() {
				return true
			}
			p.log.Warn("replica exited, restarting", "function", r.f.name, "instance", r.id, "exit", msg, "restarts", r.restarts.Load()+1)
			return false
		case <-r.stopCh:
			r.ready.Store(false)
			r.terminate(cmd, exited)
			return true
		}
	}
}

// terminate sends SIGTERM to the process group, waits for the drain and sends SIGKILL after
// StopTimeout.
func (r *replica) terminate(cmd *exec.Cmd, exited <-chan error) {
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(r.f.p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		r.f.p.log.Warn("replica did not stop in time, killing", "function", r.f.name, "instance", r.id)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	// children the function left behind in its group go too
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func (r *replica) start() (*exec.Cmd, <-chan error, error) {
	l := r.f.launchSpec()
	if err := r.f.p.secrets.project(l.secretsDir, l.secrets); err != nil {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	addr := net.JoinHostPort(dialHost(r.f.p.cfg.FunctionBindAddr), strconv.Itoa(port))
	r.addr.Store(&addr)
	// the metrics port is the provider's to choose: a fixed one (an image's :8081) cannot hold
	// several replicas on one machine
	metricsPort, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	metricsAddr := net.JoinHostPort(dialHost(r.f.p.cfg.FunctionBindAddr), strconv.Itoa(metricsPort))
	r.metrics.Store(&metricsAddr)

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd := exec.Command(l.binary)
	cmd.Dir = l.dir
	cmd.Env = append(l.env, "PORT="+strconv.Itoa(port),
		"METRICS_ADDR="+net.JoinHostPort(r.f.p.cfg.FunctionBindAddr, strconv.Itoa(metricsPort)))
	cmd.Stdout, cmd.Stderr = outW, errW
	err = r.f.p.spawner.start(cmd)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, nil, fmt.Errorf("exec %s: %w", filepath.Base(l.binary), err)
	}
	r.pid.Store(int64(cmd.Process.Pid))
	r.f.p.log.Info("replica started", "function", r.f.name, "instance", r.id, "pid", cmd.Process.Pid, "port", port)
	go r.f.logs.capture(r.id, outR)
	go r.f.logs.capture(r.id, errR)
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		outR.Close()
		errR.Close()
		r.pid.Store(0)
		exited <- err
	}()
	return cmd, exited, nil
}

var healthClient = &http.Client{Timeout: time.Second}

// waitHealthy polls GET /_/health until it answers 200 or ctx ends.
func (r *replica) waitHealthy(ctx context.Context) bool {
	url := "http://" + *r.addr.Load() + "/_/health"
	start := time.Now()
	wait := time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		if resp, err := healthClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		// every millisecond while a quick start is likely, then back off
		if time.Since(start) > 100*time.Millisecond {
			wait = min(2*wait, 50*time.Millisecond)
		}
	}
}

func exitText(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.ProcessState.String()
	default:
		return err.Error()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// dialHost turns a bind address into one to dial: a wildcard bind is reached on loopback.
func dialHost(bind string) string {
	if bind == "" || bind == "0.0.0.0" || bind == "::" {
		return "127.0.0.1"
	}
	return bind
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int64) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatInt(pid, 10) + "/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
