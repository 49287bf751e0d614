package provider

import (
	"context"
	"math"
	"syscall"
	"time"
)

// autoscale runs every ScaleInterval: idle functions labelled for it go to zero, load moves
// replicas between com.openfaas.scale.min and max, and replicas above their memory limit are
// killed (and restarted).
func (p *Provider) autoscale(ctx context.Context) {
	t := time.NewTicker(p.cfg.ScaleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.mu.RLock()
			fns := make([]*function, 0, len(p.functions))
			for _, f := range p.functions {
				fns = append(fns, f)
			}
			p.mu.RUnlock()
			for _, f := range fns {
				p.scaleOne(f, now)
			}
		}
	}
}

func (p *Provider) scaleOne(f *function, now time.Time) {
	inflight := f.inflight.Load()
	peak := f.peakInflight.Swap(inflight)
	reqs := f.requests.Load()

	f.mu.Lock()
	defer f.mu.Unlock()
	elapsed := now.Sub(f.lastTick).Seconds()
	rps := 0.0
	if elapsed > 0 {
		rps = float64(reqs-f.lastRequests) / elapsed
	}
	f.lastRequests, f.lastTick = reqs, now

	ready := 0
	for _, r := range f.replicas {
		if r.ready.Load() {
			ready++
		}
		if f.memLimit > 0 {
			if pid := r.pid.Load(); pid > 0 && rssBytes(pid) > f.memLimit {
				p.log.Warn("replica above its memory limit, killing", "function", f.name, "instance", r.id, "limit_bytes", f.memLimit)
				_ = syscall.Kill(-int(pid), syscall.SIGKILL)
			}
		}
	}
	p.metrics.ready.WithLabelValues(f.metricName()).Set(float64(ready))
	if f.deleted || f.desired == 0 {
		return
	}

	idle := time.Duration(now.UnixNano() - f.lastUse.Load())
	if f.scale.zero && inflight == 0 && idle >= f.scale.zeroDuration {
		p.log.Info("scaling idle function to zero", "function", f.name, "idle", idle.String())
		f.setDesiredLocked(0)
		return
	}
	if f.scale.max <= f.scale.min {
		return
	}
	load := float64(peak)
	if f.scale.kind == ScaleRPS {
		load = rps
	}
	want := int(math.Ceil(load / f.scale.target))
	want = min(max(want, f.scale.min, 1), f.scale.max)
	switch {
	case want > f.desired:
		p.log.Info("scaling up", "function", f.name, "from", f.desired, "to", want, "load", load)
		f.setDesiredLocked(want)
	case want < f.desired:
		if f.lowSince.IsZero() {
			f.lowSince = now
		} else if now.Sub(f.lowSince) >= p.cfg.ScaleDownDelay {
			p.log.Info("scaling down", "function", f.name, "from", f.desired, "to", f.desired-1, "load", load)
			f.setDesiredLocked(f.desired - 1)
		}
	default:
		f.lowSince = time.Time{}
	}
}
