// Package paymentsim is a payment provider simulator for development and tests: an HTTP API in
// the shape of a card processor's (POST /v1/charges with an Idempotency-Key), with configurable
// latency, random 503s, deterministic declines and a switch that takes it "down".
//
// The same Idempotency-Key always gets the first answer back and never makes a second charge;
// the same key with a different request is refused with 422. Latency is served after the charge
// is recorded, so a client that gives up waiting has still been charged, as with a real
// provider: its retry with the same key gets that charge back.
package paymentsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/simhttp"
)

// Config configures the simulator. Every field has a working default: a provider that charges
// everything at once.
type Config struct {
	// Addr is where cmd/paymentsim listens (loopback by default).
	Addr string `env:"PAYMENTSIM_ADDR, default=127.0.0.1:8091"`
	// Latency delays every answer to a charge (after the charge is recorded).
	Latency time.Duration `env:"PAYMENTSIM_LATENCY, default=0s"`
	// FailureRate is the share of charge requests, 0 to 1, answered 503 without charging.
	FailureRate float64 `env:"PAYMENTSIM_FAILURE_RATE, default=0"`
	// DeclineOver declines amounts (minor units) above it; 0 means no limit.
	DeclineOver int64 `env:"PAYMENTSIM_DECLINE_OVER, default=0"`
	// DeclineSuffix declines amounts whose decimal digits end in it, e.g. "13" declines 1013.
	DeclineSuffix string `env:"PAYMENTSIM_DECLINE_SUFFIX"`
	// DeclineCustomers declines every charge for these customer_ref values (comma separated).
	DeclineCustomers []string `env:"PAYMENTSIM_DECLINE_CUSTOMERS"`
	// APIKeyFile names a file holding the API key clients must send as a bearer token; no file
	// means no check. (The key itself is never taken from the environment.)
	APIKeyFile string `env:"PAYMENTSIM_API_KEY_FILE"`
	// APIKey is the key read from APIKeyFile, or set directly by tests.
	APIKey string
}

// LoadConfig reads Config from l and the API key from its file.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return Config{}, fmt.Errorf("paymentsim config: %w", err)
	}
	if err := c.check(); err != nil {
		return Config{}, err
	}
	if c.APIKeyFile != "" {
		key, err := simhttp.ReadSecret(c.APIKeyFile)
		if err != nil {
			return Config{}, fmt.Errorf("paymentsim config: PAYMENTSIM_API_KEY_FILE: %w", err)
		}
		c.APIKey = key
	}
	return c, nil
}

var (
	suffixPattern   = regexp.MustCompile(`^[0-9]+$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

func (c Config) check() error {
	switch {
	case c.Latency < 0:
		return fmt.Errorf("paymentsim config: PAYMENTSIM_LATENCY must not be negative")
	case c.FailureRate < 0 || c.FailureRate > 1:
		return fmt.Errorf("paymentsim config: PAYMENTSIM_FAILURE_RATE must be between 0 and 1")
	case c.DeclineOver < 0:
		return fmt.Errorf("paymentsim config: PAYMENTSIM_DECLINE_OVER must not be negative")
	case c.DeclineSuffix != "" && !suffixPattern.MatchString(c.DeclineSuffix):
		return fmt.Errorf("paymentsim config: PAYMENTSIM_DECLINE_SUFFIX must be digits")
	}
	return nil
}

// Statuses of a charge.
const (
	Succeeded = "succeeded"
	Declined  = "declined"
)

// Decline codes.
const (
	DeclineLimit    = "amount_over_limit"
	DeclineCard     = "card_declined"
	DeclineCustomer = "customer_blocked"
)

// ChargeRequest is the body of POST /v1/charges.
type ChargeRequest struct {
	// Amount in minor units.
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	CustomerRef string `json:"customer_ref"`
	OrderRef    string `json:"order_ref"`
}

// Charge is one charge attempt the provider made: succeeded or declined.
type Charge struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	DeclineCode string    `json:"decline_code,omitempty"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	CustomerRef string    `json:"customer_ref"`
	OrderRef    string    `json:"order_ref"`
	CreatedAt   time.Time `json:"created_at"`
}

// Decide applies the decline rules to r: "" when the charge succeeds, else the decline code.
func (c Config) Decide(r ChargeRequest) string {
	switch {
	case slices.Contains(c.DeclineCustomers, r.CustomerRef):
		return DeclineCustomer
	case c.DeclineOver > 0 && r.Amount > c.DeclineOver:
		return DeclineLimit
	case c.DeclineSuffix != "" && strings.HasSuffix(strconv.FormatInt(r.Amount, 10), c.DeclineSuffix):
		return DeclineCard
	}
	return ""
}

type keyed struct {
	request ChargeRequest
	charge  Charge
}

// Server is the simulator; it is an http.Handler.
type Server struct {
	cfg    Config
	faults *simhttp.Faults
	mux    *http.ServeMux

	mu      sync.Mutex
	byKey   map[string]keyed
	charges []Charge
}

// Handler returns a fresh simulator with cfg.
func Handler(cfg Config) *Server {
	s := &Server{cfg: cfg, faults: simhttp.NewFaults(cfg.Latency, cfg.FailureRate), mux: http.NewServeMux(), byKey: map[string]keyed{}}
	s.mux.HandleFunc("POST /v1/charges", s.auth(s.create))
	s.mux.HandleFunc("GET /v1/charges", s.auth(s.list))
	s.faults.Register(s.mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Faults is the simulator's fault switchboard (also reachable over /admin/faults).
func (s *Server) Faults() *simhttp.Faults { return s.faults }

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
			simhttp.Error(w, http.StatusUnauthorized, "unauthorized", "missing or wrong API key")
			return
		}
		h(w, r)
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var in ChargeRequest
	key, ok := s.faults.Accept(w, r, &in)
	if !ok {
		return
	}
	if msg := validate(in); msg != "" {
		simhttp.Error(w, http.StatusUnprocessableEntity, "invalid_request", msg)
		return
	}
	ch, replayed, ok := s.charge(key, in)
	if !ok {
		simhttp.Error(w, http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used for a different charge")
		return
	}
	if !s.faults.Delay(r.Context()) {
		return // the client went away; the charge stands
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	simhttp.JSON(w, http.StatusCreated, ch)
}

func validate(in ChargeRequest) string {
	switch {
	case in.Amount < 0:
		return "amount must not be negative"
	case !currencyPattern.MatchString(in.Currency):
		return "currency must be three upper-case letters"
	case in.CustomerRef == "":
		return "customer_ref is required"
	case in.OrderRef == "":
		return "order_ref is required"
	}
	return ""
}

// charge makes or replays the charge for key; ok is false when key was used for another request.
func (s *Server) charge(key string, in ChargeRequest) (ch Charge, replayed, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, seen := s.byKey[key]; seen {
		return k.charge, true, k.request == in
	}
	ch = Charge{ID: "ch_" + randomHex(12), Status: Succeeded, Amount: in.Amount, Currency: in.Currency,
		CustomerRef: in.CustomerRef, OrderRef: in.OrderRef, CreatedAt: time.Now().UTC()}
	if code := s.cfg.Decide(in); code != "" {
		ch.Status, ch.DeclineCode = Declined, code
	}
	s.byKey[key] = keyed{request: in, charge: ch}
	s.charges = append(s.charges, ch)
	return ch, false, true
}

// list answers GET /v1/charges[?order_ref=]: every charge made, oldest first.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	out := s.Charges(r.URL.Query().Get("order_ref"))
	if out == nil {
		out = []Charge{}
	}
	simhttp.JSON(w, http.StatusOK, ChargeList{Charges: out})
}

// ChargeList is the body of GET /v1/charges.
type ChargeList struct {
	Charges []Charge `json:"charges"`
}

// Charges returns the charges made for orderRef ("" for all), oldest first.
func (s *Server) Charges(orderRef string) []Charge {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Charge
	for _, c := range s.charges {
		if orderRef == "" || c.OrderRef == orderRef {
			out = append(out, c)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
