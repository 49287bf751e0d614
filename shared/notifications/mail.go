package notifications

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

// MailConfig locates the SMTP server. The guard around each message (GuardMail) reads
// SMTP_TIMEOUT, SMTP_BREAKER_FAILURES, SMTP_BREAKER_DELAY and SMTP_BREAKER_SUCCESSES
// (shared/resilience.Settings).
type MailConfig struct {
	// Addr is the SMTP server, host:port (infra/mailsim in dev listens on 127.0.0.1:1025).
	Addr string `env:"SMTP_ADDR, default=127.0.0.1:1025"`
	// From is the sender address; its domain is also the Message-ID's.
	From string `env:"SMTP_FROM, default=orders@faas-commerce.localhost"`
}

// Names of the notification dependencies in the resilience metrics.
const (
	MailDependency = "smtp"
	SMSDependency  = "sms-provider"
)

// SMTPMailer sends mail over plain SMTP (no authentication, no TLS: a relay on the local
// network or the dev catcher). It is the one place SMTP is spoken; GuardMail puts a timeout
// and a circuit breaker around it. Its only bound of its own is the context's deadline.
type SMTPMailer struct {
	addr   string
	from   string
	domain string
}

// NewSMTPMailer checks cfg and returns a mailer.
func NewSMTPMailer(cfg MailConfig) (*SMTPMailer, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, errors.New("SMTP_ADDR: must be host:port")
	}
	a, err := mail.ParseAddress(cfg.From)
	if err != nil || a.Address != cfg.From {
		return nil, errors.New("SMTP_FROM: must be a plain e-mail address")
	}
	return &SMTPMailer{addr: cfg.Addr, from: cfg.From, domain: cfg.From[strings.LastIndexByte(cfg.From, '@')+1:]}, nil
}

// guardedMailer sends every message under a resilience guard.
type guardedMailer struct {
	Mailer
	guard *resilience.Guard
}

// GuardMail returns m with every Send run under g: a timeout per message and a circuit breaker
// that, while open, fails at once with ErrMailUnavailable (the event is retried later) instead
// of waiting out timeouts. SMTP has no idempotency key, so a send is never retried here: a
// retry after a lost reply to the end of DATA would deliver the mail twice. The connector's
// redelivery is the retry, and the notification's record keeps a delivered mail from going out
// again.
func GuardMail(m Mailer, g *resilience.Guard) Mailer { return guardedMailer{Mailer: m, guard: g} }

func (g guardedMailer) Send(ctx context.Context, m Mail) error {
	err := g.guard.Run(ctx, false, func(ctx context.Context) error { return g.Mailer.Send(ctx, m) })
	if resilience.IsOpen(err) || errors.Is(err, timeout.ErrExceeded) {
		return ErrMailUnavailable.Wrap(err)
	}
	return err
}

// MessageID returns <key@domain of From>.
func (s *SMTPMailer) MessageID(key string) string { return "<" + key + "@" + s.domain + ">" }

// Send delivers m. Connection failures, timeouts and 4xx replies are ErrMailUnavailable; a 5xx
// reply (the server refuses the message for good) is a plain error.
func (s *SMTPMailer) Send(ctx context.Context, m Mail) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return ErrMailUnavailable.Wrap(err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			conn.Close()
			return ErrMailUnavailable.Wrap(err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // cut a blocked read short
	defer stop()
	host, _, _ := net.SplitHostPort(s.addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return classifySMTP(err)
	}
	defer c.Close()
	if err := s.transact(c, m); err != nil {
		return classifySMTP(err)
	}
	return nil
}

func (s *SMTPMailer) transact(c *smtp.Client, m Mail) error {
	if err := c.Mail(s.from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(s.compose(m)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	// The server accepted the message: a failed QUIT must not make the caller send it again.
	_ = c.Quit()
	return nil
}

// compose writes the message: plain UTF-8 text, CRLF line ends.
func (s *SMTPMailer) compose(m Mail) []byte {
	var b bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	h("From", s.from)
	h("To", m.To)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", time.Now().UTC().Format(time.RFC1123Z))
	h("Message-ID", m.MessageID)
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.Bytes()
}

// classifySMTP: a 5xx reply is permanent; anything else (4xx, network, timeout) may pass.
func classifySMTP(err error) error {
	var pe *textproto.Error
	if errors.As(err, &pe) && pe.Code >= 500 {
		return fmt.Errorf("mail refused: %w", err)
	}
	return ErrMailUnavailable.Wrap(err)
}
