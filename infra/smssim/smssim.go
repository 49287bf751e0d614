// Package smssim is an SMS provider simulator for development and tests: POST /v1/messages
// with an Idempotency-Key accepts a message once (the same key again returns the first answer
// and sends nothing; with a different message it is refused with 422), GET /v1/messages lists
// what was accepted. Latency, random 503s and "down" are set at /admin/faults.
package smssim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/simhttp"
)

// Config configures the simulator.
type Config struct {
	// Addr is where cmd/smssim listens (loopback by default).
	Addr string `env:"SMSSIM_ADDR, default=127.0.0.1:8092"`
	// Latency delays every answer to a send (after the message is accepted).
	Latency time.Duration `env:"SMSSIM_LATENCY, default=0s"`
	// FailureRate is the share of sends, 0 to 1, answered 503 without accepting the message.
	FailureRate float64 `env:"SMSSIM_FAILURE_RATE, default=0"`
}

// LoadConfig reads Config from l.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return Config{}, fmt.Errorf("smssim config: %w", err)
	}
	if c.Latency < 0 || c.FailureRate < 0 || c.FailureRate > 1 {
		return Config{}, fmt.Errorf("smssim config: SMSSIM_LATENCY must not be negative and SMSSIM_FAILURE_RATE must be between 0 and 1")
	}
	return c, nil
}

// SendRequest is the body of POST /v1/messages.
type SendRequest struct {
	// To is an E.164 number.
	To   string `json:"to"`
	Body string `json:"body"`
}

// Accepted is the answer to POST /v1/messages.
type Accepted struct {
	ID string `json:"id"`
}

// Message is one message the provider accepted.
type Message struct {
	ID             string    `json:"id"`
	To             string    `json:"to"`
	Body           string    `json:"body"`
	IdempotencyKey string    `json:"idempotency_key"`
	ReceivedAt     time.Time `json:"received_at"`
}

// MessageList is the body of GET /v1/messages.
type MessageList struct {
	Messages []Message `json:"messages"`
}

var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Server is the simulator; it is an http.Handler.
type Server struct {
	faults *simhttp.Faults
	mux    *http.ServeMux

	mu       sync.Mutex
	byKey    map[string]Message
	messages []Message
}

// Handler returns a fresh simulator with cfg.
func Handler(cfg Config) *Server {
	s := &Server{faults: simhttp.NewFaults(cfg.Latency, cfg.FailureRate), mux: http.NewServeMux(), byKey: map[string]Message{}}
	s.mux.HandleFunc("POST /v1/messages", s.send)
	s.mux.HandleFunc("GET /v1/messages", s.list)
	s.faults.Register(s.mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Faults is the simulator's fault switchboard (also reachable over /admin/faults).
func (s *Server) Faults() *simhttp.Faults { return s.faults }

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	var in SendRequest
	key, ok := s.faults.Accept(w, r, &in)
	if !ok {
		return
	}
	switch {
	case !phonePattern.MatchString(in.To):
		simhttp.Error(w, http.StatusUnprocessableEntity, "invalid_request", "to must be an E.164 number such as +4930123456")
		return
	case in.Body == "" || len(in.Body) > 1600:
		simhttp.Error(w, http.StatusUnprocessableEntity, "invalid_request", "body must be 1 to 1600 bytes")
		return
	}
	m, replayed, ok := s.accept(key, in)
	if !ok {
		simhttp.Error(w, http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used for a different message")
		return
	}
	if !s.faults.Delay(r.Context()) {
		return // the client went away; the message stands
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	simhttp.JSON(w, http.StatusAccepted, Accepted{ID: m.ID})
}

func (s *Server) accept(key string, in SendRequest) (m Message, replayed, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, seen := s.byKey[key]; seen {
		return m, true, m.To == in.To && m.Body == in.Body
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	m = Message{ID: "sms_" + hex.EncodeToString(b), To: in.To, Body: in.Body, IdempotencyKey: key, ReceivedAt: time.Now().UTC()}
	s.byKey[key] = m
	s.messages = append(s.messages, m)
	return m, false, true
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	out := s.Messages(r.URL.Query().Get("to"))
	if out == nil {
		out = []Message{}
	}
	simhttp.JSON(w, http.StatusOK, MessageList{Messages: out})
}

// Messages returns the accepted messages to the number to ("" for all), oldest first.
func (s *Server) Messages(to string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if to == "" || m.To == to {
			out = append(out, m)
		}
	}
	return out
}
