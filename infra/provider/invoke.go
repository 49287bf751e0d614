package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// hopHeaders are not forwarded (RFC 9110 section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// call is one invocation of a function.
type call struct {
	method   string
	path     string // path inside the function, starting with "/"
	rawQuery string
	header   http.Header
	body     []byte
}

// errNoReplica means no replica got ready within ReadyTimeout.
var errNoReplica = errors.New("no replica ready")

// invokeFn sends c to a ready replica of f (starting one when f is at zero). The caller must
// close the response body. A replica that refuses the connection (it is stopping or crashed) is
// skipped and the call goes to another.
func (p *Provider) invokeFn(ctx context.Context, f *function, c call) (*http.Response, error) {
	start := time.Now()
	f.requests.Add(1)
	f.lastUse.Store(start.UnixNano())
	if n := f.inflight.Add(1); n > f.peakInflight.Load() {
		f.peakInflight.Store(n)
	}
	p.metrics.started.WithLabelValues(f.metricName()).Inc()
	release := func() {
		f.inflight.Add(-1)
		f.lastUse.Store(time.Now().UnixNano())
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		readyCtx, cancel := context.WithTimeout(ctx, p.cfg.ReadyTimeout)
		r, cold, err := f.acquire(readyCtx)
		cancel()
		if cold && err == nil {
			p.metrics.coldStarts.WithLabelValues(f.metricName()).Inc()
			p.metrics.coldSeconds.WithLabelValues(f.metricName()).Observe(time.Since(start).Seconds())
		}
		if err != nil {
			release()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, errNoReplica
			}
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, c.method, "http://"+*r.addr.Load()+c.path, bytes.NewReader(c.body))
		if err != nil {
			r.inflight.Add(-1)
			release()
			return nil, err
		}
		req.URL.RawQuery = c.rawQuery
		req.Header = c.header.Clone()
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c.body)), nil }
		resp, err := p.upstream.RoundTrip(req)
		if err != nil {
			r.inflight.Add(-1)
			lastErr = err
			// nothing reached a process that refused the connection; one being retired drains
			// what it accepted, so an error from it means the call was not taken
			if (refused(err) || r.stopping()) && ctx.Err() == nil {
				continue
			}
			release()
			return nil, err
		}
		resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { r.inflight.Add(-1); release() }}
		return resp, nil
	}
	release()
	return nil, lastErr
}

func refused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

type releasingBody struct {
	io.ReadCloser
	release func()
	done    bool
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.done {
		b.done = true
		b.release()
	}
	return err
}

// invoke proxies /function/NAME[.openfaas-fn][/path] to the function like the OpenFaaS gateway.
func (p *Provider) invoke(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := trimNamespace(r.PathValue("name"))
	f, ok := p.lookup(name)
	if !ok {
		writeError(w, http.StatusNotFound, "function %s not found", name)
		return
	}
	if !p.admit(w, r, f) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request body for %s too large", name)
		return
	}
	header := r.Header.Clone()
	stampCall(header, r, start)
	w.Header().Set("X-Call-Id", header.Get("X-Call-Id"))
	w.Header().Set("X-Start-Time", header.Get("X-Start-Time"))

	ctx, endSpan := proxySpan(r, name, header)
	ctx, cancel := context.WithTimeout(ctx, p.cfg.UpstreamTimeout)
	defer cancel()
	resp, err := p.invokeFn(ctx, f, call{method: r.Method, path: "/" + r.PathValue("path"), rawQuery: r.URL.RawQuery, header: header, body: body})
	code := http.StatusOK
	defer func() { p.observe(f, code, start); endSpan(code) }()
	if err != nil {
		code = p.invokeErrorStatus(name, err)
		writeError(w, code, "%s", invokeErrorText(name, err, p.cfg.ReadyTimeout))
		return
	}
	defer resp.Body.Close()
	code = resp.StatusCode
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("X-Duration-Seconds", strconv.FormatFloat(time.Since(start).Seconds(), 'f', 6, 64))
	w.WriteHeader(resp.StatusCode)
	copyFlushing(w, resp.Body)
}

func (p *Provider) invokeErrorStatus(name string, err error) int {
	switch {
	case errors.Is(err, ErrFunctionNotFound):
		return http.StatusNotFound
	case errors.Is(err, errNoReplica):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		p.log.Warn("invoke", "function", name, "error", err)
		return http.StatusBadGateway
	}
}

func invokeErrorText(name string, err error, readyTimeout time.Duration) string {
	switch {
	case errors.Is(err, ErrFunctionNotFound):
		return "function " + name + " not found"
	case errors.Is(err, errNoReplica):
		return "function " + name + " has no ready replica after " + readyTimeout.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "function " + name + " did not answer in time"
	default:
		return "function " + name + " could not be reached"
	}
}

// stampCall sets the headers the OpenFaaS gateway sets on a call.
func stampCall(h http.Header, r *http.Request, start time.Time) {
	for _, k := range hopHeaders {
		h.Del(k)
	}
	if h.Get("X-Call-Id") == "" {
		h.Set("X-Call-Id", uuid.NewString())
	}
	h.Set("X-Start-Time", strconv.FormatInt(start.UTC().UnixNano(), 10))
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h.Get("X-Forwarded-For"); prior != "" {
			host = prior + ", " + host
		}
		h.Set("X-Forwarded-For", host)
	}
	if h.Get("X-Forwarded-Host") == "" {
		h.Set("X-Forwarded-Host", r.Host)
	}
}

func copyFlushing(w http.ResponseWriter, body io.Reader) {
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil && strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// observe counts a finished invocation under the gateway's metric names.
func (p *Provider) observe(f *function, code int, start time.Time) {
	c := strconv.Itoa(code)
	p.metrics.invocations.WithLabelValues(f.metricName(), c).Inc()
	p.metrics.seconds.WithLabelValues(f.metricName(), c).Observe(time.Since(start).Seconds())
}
