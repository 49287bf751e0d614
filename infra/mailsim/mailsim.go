// Package mailsim is an SMTP catcher for development and tests: it accepts every message
// (no TLS, no authentication, loopback only), keeps it in memory and lists it over HTTP at
// GET /v1/messages?to=ADDRESS. "Down" and latency are set at /admin/faults: down answers 421
// (service not available) to MAIL, as a real server that is shutting down does.
package mailsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/simhttp"
)

// Config configures the catcher.
type Config struct {
	// SMTPAddr is where SMTP is served (loopback by default).
	SMTPAddr string `env:"MAILSIM_SMTP_ADDR, default=127.0.0.1:1025"`
	// HTTPAddr is where the message list and /admin/faults are served.
	HTTPAddr string `env:"MAILSIM_HTTP_ADDR, default=127.0.0.1:8025"`
	// Latency delays the answer to each message's data (after it is kept).
	Latency time.Duration `env:"MAILSIM_LATENCY, default=0s"`
	// MaxMessageBytes is the largest message accepted.
	MaxMessageBytes int64 `env:"MAILSIM_MAX_MESSAGE_BYTES, default=1048576"`
}

// LoadConfig reads Config from l.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return Config{}, fmt.Errorf("mailsim config: %w", err)
	}
	if c.Latency < 0 || c.MaxMessageBytes < 1 {
		return Config{}, errors.New("mailsim config: MAILSIM_LATENCY must not be negative and MAILSIM_MAX_MESSAGE_BYTES must be positive")
	}
	return c, nil
}

// Message is one message received.
type Message struct {
	ID        string   `json:"id"`
	From      string   `json:"from"`
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	MessageID string   `json:"message_id"`
	// Body is the message text after the header.
	Body       string    `json:"body"`
	ReceivedAt time.Time `json:"received_at"`
}

// MessageList is the body of GET /v1/messages.
type MessageList struct {
	Messages []Message `json:"messages"`
}

// Server is the catcher: an SMTP server and the HTTP API beside it.
type Server struct {
	faults *simhttp.Faults
	smtp   *smtp.Server
	ln     net.Listener
	mux    *http.ServeMux
	done   chan struct{}

	mu       sync.Mutex
	messages []Message
}

// Listen starts serving SMTP on cfg.SMTPAddr ("127.0.0.1:0" picks a free port; see Addr).
// The HTTP API is Handler; Close stops SMTP.
func Listen(cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("mailsim: listen: %w", err)
	}
	s := &Server{faults: simhttp.NewFaults(cfg.Latency, 0), ln: ln, mux: http.NewServeMux(), done: make(chan struct{})}
	s.smtp = smtp.NewServer(backend{s})
	s.smtp.Domain = "mailsim.localhost"
	s.smtp.MaxMessageBytes = cfg.MaxMessageBytes
	if s.smtp.MaxMessageBytes == 0 {
		s.smtp.MaxMessageBytes = 1 << 20
	}
	s.smtp.MaxRecipients = 50
	s.smtp.ReadTimeout, s.smtp.WriteTimeout = time.Minute, time.Minute
	s.smtp.ErrorLog = log.New(io.Discard, "", 0)
	s.mux.HandleFunc("GET /v1/messages", s.list)
	s.faults.Register(s.mux)
	go func() {
		defer close(s.done)
		_ = s.smtp.Serve(ln) // returns smtp.ErrServerClosed after Close
	}()
	return s, nil
}

// Addr is the SMTP address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Handler is the HTTP API: GET /v1/messages, GET /healthz, GET and PUT /admin/faults.
func (s *Server) Handler() http.Handler { return s.mux }

// Faults is the catcher's fault switchboard (also reachable over /admin/faults).
func (s *Server) Faults() *simhttp.Faults { return s.faults }

// Close stops SMTP and waits for the server to end.
func (s *Server) Close() error {
	err := s.smtp.Close()
	// Serve may not have taken the listener yet, so Close above may not have closed it.
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) {
		err = errors.Join(err, lerr)
	}
	<-s.done
	return err
}

// Messages returns the messages received for the address to ("" for all), oldest first.
func (s *Server) Messages(to string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if to == "" || slices.ContainsFunc(m.To, func(a string) bool { return strings.EqualFold(a, to) }) {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	out := s.Messages(r.URL.Query().Get("to"))
	if out == nil {
		out = []Message{}
	}
	simhttp.JSON(w, http.StatusOK, MessageList{Messages: out})
}

func (s *Server) keep(from string, to []string, data []byte) error {
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message cannot be parsed"}
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	m := Message{ID: hex.EncodeToString(b), From: from, To: to, Subject: msg.Header.Get("Subject"),
		MessageID: msg.Header.Get("Message-Id"), Body: string(body), ReceivedAt: time.Now().UTC()}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	return nil
}

var errDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service not available, try again later"}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.faults.Fail() {
		return errDown
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := x.s.keep(x.from, x.to, data); err != nil {
		return err
	}
	x.s.faults.Delay(context.Background()) // a slow server answers late; the message is kept
	return nil
}
