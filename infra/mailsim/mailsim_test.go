package mailsim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"testing"

	"github.com/faas-commerce/faas-commerce/infra/mailsim"
)

func start(t *testing.T) (*mailsim.Server, *httptest.Server) {
	t.Helper()
	s, err := mailsim.Listen(mailsim.Config{SMTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	api := httptest.NewServer(s.Handler())
	t.Cleanup(api.Close)
	return s, api
}

const msg = "From: shop@example.com\r\nTo: ada@example.com\r\nSubject: Your order\r\nMessage-ID: <e1.email@faas-commerce>\r\n\r\nWe received your order.\r\n"

func TestCatchesMail(t *testing.T) {
	s, api := start(t)
	if err := smtp.SendMail(s.Addr(), nil, "shop@example.com", []string{"ada@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(api.URL + "/v1/messages?to=ADA@example.com")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l mailsim.MessageList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 1 {
		t.Fatalf("%d messages, want 1", len(l.Messages))
	}
	m := l.Messages[0]
	if m.From != "shop@example.com" || m.Subject != "Your order" || m.MessageID != "<e1.email@faas-commerce>" || m.Body != "We received your order.\r\n" {
		t.Fatalf("message %+v", m)
	}
	if got := s.Messages("bob@example.com"); len(got) != 0 {
		t.Fatalf("messages for someone else: %+v", got)
	}
}

func TestDownRefusesMail(t *testing.T) {
	s, _ := start(t)
	s.Faults().SetDown(true)
	err := smtp.SendMail(s.Addr(), nil, "shop@example.com", []string{"ada@example.com"}, []byte(msg))
	var pe *textproto.Error
	if !errors.As(err, &pe) || pe.Code != 421 {
		t.Fatalf("send while down: %v, want a 421", err)
	}
	s.Faults().SetDown(false)
	if err := smtp.SendMail(s.Addr(), nil, "shop@example.com", []string{"ada@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got := s.Messages(""); len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
}
