// Package tracesink is a small trace collector that speaks Zipkin's v2 HTTP API: it accepts
// spans as the OpenTelemetry Zipkin exporter sends them (POST /api/v2/spans) and serves them back
// by trace, by service and as the list of services, from memory bounded by a cap on traces
// (the oldest go first). Tests read traces back from it over HTTP; `make up` runs it on
// 127.0.0.1:9411 so the platform's spans have somewhere to go.
package tracesink

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Config is the sink's configuration, read from the environment.
type Config struct {
	// Addr is the host:port the Zipkin API listens on (Zipkin's own port by default).
	Addr string `env:"TRACESINK_ADDR, default=127.0.0.1:9411"`
	// MaxTraces caps the traces kept; past it the trace that arrived first is dropped.
	MaxTraces int `env:"TRACESINK_MAX_TRACES, default=10000"`
	// MaxSpansPerTrace caps one trace's spans; later spans of a full trace are dropped.
	MaxSpansPerTrace int `env:"TRACESINK_MAX_SPANS_PER_TRACE, default=2000"`
	// MaxBodyBytes bounds one POST of spans.
	MaxBodyBytes int64 `env:"TRACESINK_MAX_BODY_BYTES, default=8388608"`
}

// LoadConfig reads the configuration through lookuper (envconfig.OsLookuper() in production,
// envconfig.MapLookuper in tests).
func LoadConfig(ctx context.Context, lookuper envconfig.Lookuper) (Config, error) {
	var cfg Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: lookuper}); err != nil {
		return Config{}, fmt.Errorf("read tracesink config: %w", err)
	}
	if cfg.MaxTraces <= 0 || cfg.MaxSpansPerTrace <= 0 || cfg.MaxBodyBytes <= 0 {
		return Config{}, errors.New("TRACESINK_MAX_TRACES, TRACESINK_MAX_SPANS_PER_TRACE and TRACESINK_MAX_BODY_BYTES must be positive")
	}
	return cfg, nil
}

// Endpoint is a Zipkin endpoint: the service a span was recorded in, or its peer.
type Endpoint struct {
	ServiceName string `json:"serviceName,omitempty"`
	IPv4        string `json:"ipv4,omitempty"`
	IPv6        string `json:"ipv6,omitempty"`
	Port        int    `json:"port,omitempty"`
}

// Annotation is a timestamped event in a span.
type Annotation struct {
	Timestamp int64  `json:"timestamp"`
	Value     string `json:"value"`
}

// Span is a Zipkin v2 span. Timestamps and durations are microseconds.
type Span struct {
	TraceID        string            `json:"traceId"`
	ID             string            `json:"id"`
	ParentID       string            `json:"parentId,omitempty"`
	Name           string            `json:"name,omitempty"`
	Kind           string            `json:"kind,omitempty"`
	Timestamp      int64             `json:"timestamp,omitempty"`
	Duration       int64             `json:"duration,omitempty"`
	Debug          bool              `json:"debug,omitempty"`
	Shared         bool              `json:"shared,omitempty"`
	LocalEndpoint  *Endpoint         `json:"localEndpoint,omitempty"`
	RemoteEndpoint *Endpoint         `json:"remoteEndpoint,omitempty"`
	Annotations    []Annotation      `json:"annotations,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
}

// Service is the span's local service name ("" when it has none).
func (s Span) Service() string {
	if s.LocalEndpoint == nil {
		return ""
	}
	return s.LocalEndpoint.ServiceName
}

type trace struct {
	id       string
	spans    []Span
	received time.Time // when its last span arrived
	elem     *list.Element
}

// Store keeps traces in memory, at most MaxTraces of them.
type Store struct {
	maxTraces, maxSpans int

	mu      sync.Mutex
	traces  map[string]*trace
	order   *list.List // of *trace, the first to arrive at the front
	dropped int64      // spans dropped: traces evicted and spans past a trace's cap
}

// NewStore returns an empty store bounded by cfg's caps.
func NewStore(cfg Config) *Store {
	return &Store{maxTraces: cfg.MaxTraces, maxSpans: cfg.MaxSpansPerTrace, traces: map[string]*trace{}, order: list.New()}
}

// ErrBadSpan is a span the sink cannot keep (no or malformed ids).
var ErrBadSpan = errors.New("bad span")

// normalizeID lower-cases a hex id and checks its length (16 or 32 hex digits for trace ids,
// 16 for span ids; Zipkin also accepts shorter ones and pads them on the left).
func normalizeID(id string, allow128 bool) (string, error) {
	id = strings.ToLower(id)
	if id == "" || len(id) > 32 || (!allow128 && len(id) > 16) {
		return "", fmt.Errorf("%w: id %q", ErrBadSpan, id)
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("%w: id %q is not hex", ErrBadSpan, id)
		}
	}
	width := 16
	if len(id) > 16 {
		width = 32
	}
	return strings.Repeat("0", width-len(id)) + id, nil
}

// Add keeps spans, checking every one before keeping any.
func (s *Store) Add(spans []Span) error {
	for i := range spans {
		var err error
		if spans[i].TraceID, err = normalizeID(spans[i].TraceID, true); err != nil {
			return fmt.Errorf("span %d: %w", i, err)
		}
		if spans[i].ID, err = normalizeID(spans[i].ID, false); err != nil {
			return fmt.Errorf("span %d: %w", i, err)
		}
		if spans[i].ParentID != "" {
			if spans[i].ParentID, err = normalizeID(spans[i].ParentID, false); err != nil {
				return fmt.Errorf("span %d parent: %w", i, err)
			}
		}
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range spans {
		t, ok := s.traces[sp.TraceID]
		if !ok {
			t = &trace{id: sp.TraceID}
			t.elem = s.order.PushBack(t)
			s.traces[sp.TraceID] = t
		}
		if len(t.spans) >= s.maxSpans {
			s.dropped++
			continue
		}
		t.spans = append(t.spans, sp)
		t.received = now
	}
	for s.order.Len() > s.maxTraces {
		oldest := s.order.Remove(s.order.Front()).(*trace)
		delete(s.traces, oldest.id)
		s.dropped += int64(len(oldest.spans))
	}
	return nil
}

// Trace returns a trace's spans ordered by start time, or false when it is not kept.
func (s *Store) Trace(id string) ([]Span, bool) {
	id, err := normalizeID(id, true)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.traces[id]
	if !ok {
		return nil, false
	}
	return sortedSpans(t.spans), true
}

func sortedSpans(spans []Span) []Span {
	out := slices.Clone(spans)
	slices.SortStableFunc(out, func(a, b Span) int { return compareInt(a.Timestamp, b.Timestamp) })
	return out
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Query selects traces for GET /api/v2/traces.
type Query struct {
	// ServiceName keeps traces with a span recorded by this service ("" keeps all).
	ServiceName string
	// SpanName keeps traces with a span of this name ("" keeps all).
	SpanName string
	// Limit is the most traces returned.
	Limit int
}

// Traces returns the traces matching q, the most recently updated first.
func (s *Store) Traces(q Query) [][]Span {
	s.mu.Lock()
	var matched []*trace
	for e := s.order.Back(); e != nil; e = e.Prev() {
		t := e.Value.(*trace)
		if matches(t, q) {
			matched = append(matched, t)
		}
	}
	slices.SortStableFunc(matched, func(a, b *trace) int { return b.received.Compare(a.received) })
	if q.Limit > 0 && len(matched) > q.Limit {
		matched = matched[:q.Limit]
	}
	out := make([][]Span, 0, len(matched))
	for _, t := range matched {
		out = append(out, sortedSpans(t.spans))
	}
	s.mu.Unlock()
	return out
}

func matches(t *trace, q Query) bool {
	service := q.ServiceName == ""
	name := q.SpanName == ""
	for _, sp := range t.spans {
		service = service || strings.EqualFold(sp.Service(), q.ServiceName)
		name = name || strings.EqualFold(sp.Name, q.SpanName)
	}
	return service && name
}

// Services returns every service name seen in kept traces, sorted.
func (s *Store) Services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, t := range s.traces {
		for _, sp := range t.spans {
			if n := sp.Service(); n != "" {
				seen[n] = true
			}
		}
	}
	return sortedKeys(seen)
}

// SpanNames returns the span names a service recorded, sorted.
func (s *Store) SpanNames(service string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, t := range s.traces {
		for _, sp := range t.spans {
			if sp.Name != "" && strings.EqualFold(sp.Service(), service) {
				seen[sp.Name] = true
			}
		}
	}
	return sortedKeys(seen)
}

// Stats reports how many traces are kept and how many spans were dropped.
func (s *Store) Stats() (traces int, dropped int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.traces), s.dropped
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Handler serves Zipkin's v2 API over store: POST /api/v2/spans, GET /api/v2/trace/{traceId},
// GET /api/v2/traces, GET /api/v2/services, GET /api/v2/spans?serviceName=, and /healthz.
func Handler(store *Store, maxBody int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/spans", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
			writeError(w, http.StatusUnsupportedMediaType, "spans must be application/json (Zipkin v2 JSON), not %q", ct)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "body over %d bytes", maxBody)
			return
		}
		var spans []Span
		if err := json.Unmarshal(body, &spans); err != nil {
			writeError(w, http.StatusBadRequest, "body is not a JSON list of Zipkin v2 spans: %v", err)
			return
		}
		if err := store.Add(spans); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /api/v2/trace/{traceId}", func(w http.ResponseWriter, r *http.Request) {
		spans, ok := store.Trace(r.PathValue("traceId"))
		if !ok {
			writeError(w, http.StatusNotFound, "trace %s not found", r.PathValue("traceId"))
			return
		}
		writeJSON(w, http.StatusOK, spans)
	})
	mux.HandleFunc("GET /api/v2/traces", func(w http.ResponseWriter, r *http.Request) {
		q := Query{ServiceName: r.URL.Query().Get("serviceName"), SpanName: r.URL.Query().Get("spanName"), Limit: 10}
		if l := r.URL.Query().Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n <= 0 {
				writeError(w, http.StatusBadRequest, "limit %q is not a positive number", l)
				return
			}
			q.Limit = n
		}
		writeJSON(w, http.StatusOK, store.Traces(q))
	})
	mux.HandleFunc("GET /api/v2/services", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, store.Services())
	})
	mux.HandleFunc("GET /api/v2/spans", func(w http.ResponseWriter, r *http.Request) {
		service := r.URL.Query().Get("serviceName")
		if service == "" {
			writeError(w, http.StatusBadRequest, "serviceName is required")
			return
		}
		writeJSON(w, http.StatusOK, store.SpanNames(service))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		traces, dropped := store.Stats()
		writeJSON(w, http.StatusOK, map[string]int64{"traces": int64(traces), "droppedSpans": dropped})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing left to tell it
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}
