package provider

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/types"
)

// Namespace is the one namespace the provider serves.
const Namespace = "openfaas-fn"

// ErrFunctionNotFound means no function of that name is deployed.
var ErrFunctionNotFound = errors.New("function not found")

// function is a deployed function: its deployment, its replicas and the load on it.
type function struct {
	p          *Provider
	name       string
	logs       *logBuffer
	created    time.Time
	dir        string
	secretsDir string

	mu       sync.Mutex
	spec     types.FunctionDeployment
	binary   string
	scale    scaling
	memLimit int64
	desired  int
	replicas []*replica // the current deployment's replicas, starting or ready
	previous []*replica // the replaced deployment's replicas, serving until the new ones are ready
	readyCh  chan struct{}
	nextID   int
	rr       int
	deleted  bool
	lowSince time.Time // since when load has wanted fewer replicas than desired

	inflight     atomic.Int64
	peakInflight atomic.Int64
	requests     atomic.Int64
	lastUse      atomic.Int64
	lastRequests int64
	lastTick     time.Time
}

// deployment is a validated FunctionDeployment with what was derived from it.
type deployment struct {
	spec     types.FunctionDeployment
	binary   string
	scale    scaling
	memLimit int64
}

func (f *function) metricName() string { return f.name + "." + Namespace }

func (f *function) apply(d deployment) {
	f.spec, f.binary, f.scale, f.memLimit = d.spec, d.binary, d.scale, d.memLimit
}

// launchSpec is what the next process start needs, read under the lock.
func (f *function) launchSpec() launch {
	f.mu.Lock()
	defer f.mu.Unlock()
	env := []string{"PATH=" + os.Getenv("PATH")}
	if home := os.Getenv("HOME"); home != "" {
		env = append(env, "HOME="+home)
	}
	for _, k := range sortedKeys(f.spec.EnvVars) {
		env = append(env, k+"="+f.spec.EnvVars[k])
	}
	if f.spec.EnvProcess != "" {
		env = append(env, "fprocess="+f.spec.EnvProcess)
	}
	if _, set := f.spec.EnvVars["GOMEMLIMIT"]; !set && f.memLimit > 0 {
		// leave headroom under the hard limit the provider enforces on RSS
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(f.memLimit*9/10, 10))
	}
	if _, set := f.spec.EnvVars["FUNCTION_NAME"]; !set {
		env = append(env, "FUNCTION_NAME="+f.name)
	}
	env = append(env, "BIND_ADDR="+f.p.cfg.FunctionBindAddr, "SECRETS_DIR="+f.secretsDir)
	return launch{binary: f.binary, env: env, dir: f.dir, secretsDir: f.secretsDir, secrets: append([]string(nil), f.spec.Secrets...)}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// public reports whether the deployment marks the function public (env AUTH_PUBLIC, read as
// the functions read it): the gate lets calls without a token through to it.
func (f *function) public() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := strconv.ParseBool(f.spec.EnvVars["AUTH_PUBLIC"])
	return err == nil && v
}

func (f *function) secretNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.spec.Secrets)
}

// reconcileLocked starts or stops replicas until the current deployment has desired of them.
func (f *function) reconcileLocked() {
	for len(f.replicas) < f.desired {
		f.nextID++
		r := &replica{f: f, id: f.name + "-" + strconv.Itoa(f.nextID), stopCh: make(chan struct{}), done: make(chan struct{})}
		f.replicas = append(f.replicas, r)
		go r.run()
	}
	for len(f.replicas) > f.desired {
		victim := len(f.replicas) - 1
		for i, r := range f.replicas {
			if !r.ready.Load() {
				victim = i
				break
			}
		}
		r := f.replicas[victim]
		f.replicas = append(f.replicas[:victim], f.replicas[victim+1:]...)
		go r.stop()
	}
	f.p.metrics.replicas.WithLabelValues(f.metricName()).Set(float64(f.desired))
	f.p.metrics.serviceCnt.WithLabelValues(f.metricName()).Set(float64(f.desired))
}

// setDesired changes the replica count, keeping it within max and, unless it is 0, above min.
func (f *function) setDesired(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setDesiredLocked(n)
}

func (f *function) setDesiredLocked(n int) {
	if f.deleted {
		return
	}
	if n > 0 {
		n = max(n, f.scale.min, 1)
	}
	f.desired = min(n, f.scale.max)
	f.lowSince = time.Time{}
	f.reconcileLocked()
}

// replicaReady wakes requests waiting for a replica and retires the replaced deployment once
// every replica of the current one is ready.
func (f *function) replicaReady(*replica) {
	f.mu.Lock()
	close(f.readyCh)
	f.readyCh = make(chan struct{})
	var retire []*replica
	if len(f.previous) > 0 && f.allReadyLocked() {
		retire, f.previous = f.previous, nil
	}
	f.mu.Unlock()
	for _, r := range retire {
		go r.stop()
	}
}

func (f *function) allReadyLocked() bool {
	for _, r := range f.replicas {
		if !r.ready.Load() {
			return false
		}
	}
	return true
}

// acquire returns a ready replica with a request counted on it, starting one if the function is
// at zero, and waits (bounded by ctx) while none is ready. coldStart reports whether this call
// woke the function from zero.
func (f *function) acquire(ctx context.Context) (r *replica, coldStart bool, err error) {
	for {
		f.mu.Lock()
		if f.deleted {
			f.mu.Unlock()
			return nil, coldStart, ErrFunctionNotFound
		}
		r = pickReady(f.replicas, f.rr)
		if r == nil {
			r = pickReady(f.previous, f.rr)
		}
		f.rr++
		if r != nil {
			r.inflight.Add(1)
			f.mu.Unlock()
			return r, coldStart, nil
		}
		if f.desired == 0 {
			f.setDesiredLocked(1)
			coldStart = true
		}
		wait := f.readyCh
		f.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, coldStart, ctx.Err()
		}
	}
}

// pickReady chooses the ready replica with the fewest requests in flight, starting the scan at
// rr so that ties rotate.
func pickReady(rs []*replica, rr int) *replica {
	var best *replica
	n := len(rs)
	for i := range n {
		r := rs[(rr+i)%n]
		if r.ready.Load() && (best == nil || r.inflight.Load() < best.inflight.Load()) {
			best = r
		}
	}
	return best
}

// replace starts the new deployment's replicas beside the old ones; the old ones keep serving
// until all new ones are ready or ReadyTimeout passes, then drain and stop.
func (f *function) replace(d deployment) {
	f.mu.Lock()
	f.apply(d)
	f.previous = append(f.previous, f.replicas...)
	f.replicas = nil
	n := f.desired
	if n > 0 {
		n = max(n, f.scale.min)
	}
	f.desired = min(n, f.scale.max)
	f.reconcileLocked()
	if len(f.replicas) == 0 || len(f.previous) == 0 {
		retire := f.previous
		f.previous = nil
		f.mu.Unlock()
		for _, r := range retire {
			go r.stop()
		}
		return
	}
	old := slices.Clone(f.previous)
	f.mu.Unlock()
	// fallback when the new deployment never gets ready: retire what this update replaced
	time.AfterFunc(f.p.cfg.ReadyTimeout, func() {
		var retire []*replica
		f.mu.Lock()
		f.previous = slices.DeleteFunc(f.previous, func(r *replica) bool {
			if slices.Contains(old, r) {
				retire = append(retire, r)
				return true
			}
			return false
		})
		f.mu.Unlock()
		for _, r := range retire {
			go r.stop()
		}
	})
}

// shutdown stops every replica and waits for them.
func (f *function) shutdown() {
	f.mu.Lock()
	f.deleted = true
	all := append(f.replicas, f.previous...)
	f.replicas, f.previous = nil, nil
	close(f.readyCh)
	f.readyCh = make(chan struct{})
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range all {
		wg.Go(r.stop)
	}
	wg.Wait()
	f.p.metrics.forget(f.metricName())
	_ = os.RemoveAll(f.secretsDir)
}

// status reports the function in the OpenFaaS shape plus its instances.
func (f *function) status() FunctionStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := FunctionStatus{FunctionStatus: types.FunctionStatus{
		Name:            f.name,
		Image:           f.spec.Image,
		Namespace:       Namespace,
		EnvProcess:      f.spec.EnvProcess,
		EnvVars:         f.spec.EnvVars,
		Constraints:     f.spec.Constraints,
		Secrets:         f.spec.Secrets,
		Labels:          f.spec.Labels,
		Annotations:     f.spec.Annotations,
		Limits:          f.spec.Limits,
		Requests:        f.spec.Requests,
		InvocationCount: float64(f.requests.Load()),
		Replicas:        uint64(f.desired),
		CreatedAt:       f.created,
	}, Binary: f.binary}
	var mem int64
	for _, r := range append(append([]*replica(nil), f.replicas...), f.previous...) {
		inst := InstanceStatus{Name: r.id, PID: r.pid.Load(), Ready: r.ready.Load(), Restarts: r.restarts.Load(), InFlight: r.inflight.Load()}
		if a := r.addr.Load(); a != nil {
			inst.Address = *a
		}
		if a := r.metrics.Load(); a != nil {
			inst.MetricsAddress = *a
		}
		if e := r.lastExit.Load(); e != nil {
			inst.LastExit = *e
		}
		inst.RSSBytes = rssBytes(inst.PID)
		mem += inst.RSSBytes
		if inst.Ready {
			s.AvailableReplicas++
		}
		s.Restarts += inst.Restarts
		s.Instances = append(s.Instances, inst)
	}
	s.Usage = &types.FunctionUsage{TotalMemoryBytes: float64(mem)}
	return s
}

// FunctionStatus is the OpenFaaS function status plus what the provider knows of its processes.
type FunctionStatus struct {
	types.FunctionStatus
	// Binary is the executable the image resolved to.
	Binary string `json:"binary,omitempty"`
	// Restarts counts process restarts after crashes, over all current instances.
	Restarts int64 `json:"restarts"`
	// Instances are the function's processes.
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus is one replica process.
type InstanceStatus struct {
	Name    string `json:"name"`
	PID     int64  `json:"pid,omitempty"`
	Address string `json:"address,omitempty"`
	// MetricsAddress is where the process serves Prometheus metrics (its METRICS_ADDR).
	MetricsAddress string `json:"metricsAddress,omitempty"`
	Ready          bool   `json:"ready"`
	Restarts       int64  `json:"restarts"`
	InFlight       int64  `json:"inFlight"`
	RSSBytes       int64  `json:"rssBytes,omitempty"`
	LastExit       string `json:"lastExit,omitempty"`
}

func newFunction(p *Provider, d deployment) *function {
	name := d.spec.Service
	dir := filepath.Join(p.stateDir, "functions", name)
	f := &function{
		p: p, name: name, logs: newLogBuffer(name, p.cfg.LogLines), created: time.Now().UTC(),
		dir: dir, secretsDir: filepath.Join(dir, "secrets"), readyCh: make(chan struct{}), lastTick: time.Now(),
	}
	f.apply(d)
	f.lastUse.Store(time.Now().UnixNano())
	return f
}
