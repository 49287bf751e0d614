package provider

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/openfaas/faas-provider/logs"
)

// logBuffer keeps a function's last lines of stdout and stderr and feeds followers.
type logBuffer struct {
	mu        sync.Mutex
	name      string
	lines     []logs.Message // ring
	next      int
	full      bool
	followers map[chan logs.Message]struct{}
}

func newLogBuffer(name string, size int) *logBuffer {
	return &logBuffer{name: name, lines: make([]logs.Message, size), followers: map[chan logs.Message]struct{}{}}
}

func (b *logBuffer) add(instance, text string) {
	msg := logs.Message{Name: b.name, Namespace: Namespace, Instance: instance, Timestamp: time.Now().UTC(), Text: text}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines[b.next] = msg
	b.next = (b.next + 1) % len(b.lines)
	if b.next == 0 {
		b.full = true
	}
	for ch := range b.followers {
		select {
		case ch <- msg:
		default: // a follower that cannot keep up loses lines rather than blocking the function
		}
	}
}

// capture copies r line by line into the buffer until r ends.
func (b *logBuffer) capture(instance string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		b.add(instance, sc.Text())
	}
	// a line longer than the buffer ends the scan; drain so the process never blocks on a full pipe
	_, _ = io.Copy(io.Discard, r)
}

// query answers a faas-provider log request: lines since req.Since, the last req.Tail of them
// (all when Tail <= 0), then new lines while req.Follow and ctx lasts.
func (b *logBuffer) query(ctx context.Context, req logs.Request) <-chan logs.Message {
	b.mu.Lock()
	var past []logs.Message
	if b.full {
		past = append(past, b.lines[b.next:]...)
	}
	past = append(past, b.lines[:b.next]...)
	if req.Since != nil {
		i := 0
		for i < len(past) && past[i].Timestamp.Before(*req.Since) {
			i++
		}
		past = past[i:]
	}
	if req.Instance != "" {
		kept := past[:0:0]
		for _, m := range past {
			if m.Instance == req.Instance {
				kept = append(kept, m)
			}
		}
		past = kept
	}
	if req.Tail > 0 && len(past) > req.Tail {
		past = past[len(past)-req.Tail:]
	}
	var live chan logs.Message
	if req.Follow {
		live = make(chan logs.Message, 256)
		b.followers[live] = struct{}{}
	}
	b.mu.Unlock()

	out := make(chan logs.Message)
	go func() {
		defer close(out)
		if live != nil {
			defer func() {
				b.mu.Lock()
				delete(b.followers, live)
				b.mu.Unlock()
			}()
		}
		for _, m := range past {
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
		if live == nil {
			return
		}
		for {
			select {
			case m := <-live:
				if req.Instance != "" && m.Instance != req.Instance {
					continue
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Query implements logs.Requester for the faas-provider log handler.
func (p *Provider) Query(ctx context.Context, req logs.Request) (<-chan logs.Message, error) {
	name := trimNamespace(req.Name)
	p.mu.RLock()
	f, ok := p.functions[name]
	p.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("function %s: %w", name, ErrFunctionNotFound)
	}
	return f.logs.query(ctx, req), nil
}

// logsHandler answers 404 for an unknown function before faas-provider's streaming handler runs
// (which would answer 500).
func (p *Provider) logsHandler(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := trimNamespace(r.URL.Query().Get("name"))
		if _, ok := p.lookup(name); !ok {
			writeError(w, http.StatusNotFound, "function %s not found", name)
			return
		}
		next(w, r)
	}
}
