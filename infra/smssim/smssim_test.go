package smssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/infra/smssim"
)

func send(t *testing.T, url, key, body string) (int, smssim.Accepted) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a smssim.Accepted
	if resp.StatusCode == http.StatusAccepted {
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, a
}

func list(t *testing.T, url, to string) []smssim.Message {
	t.Helper()
	resp, err := http.Get(url + "/v1/messages?to=" + strings.ReplaceAll(to, "+", "%2B"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l smssim.MessageList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %v", resp.StatusCode, err)
	}
	return l.Messages
}

func TestMessagesAreIdempotent(t *testing.T) {
	srv := httptest.NewServer(smssim.Handler(smssim.Config{}))
	t.Cleanup(srv.Close)
	msg := `{"to":"+4930123456","body":"Your order is complete"}`
	status, first := send(t, srv.URL, "evt-1:sms", msg)
	if status != http.StatusAccepted || first.ID == "" {
		t.Fatalf("first send: %d %+v", status, first)
	}
	status, again := send(t, srv.URL, "evt-1:sms", msg)
	if status != http.StatusAccepted || again != first {
		t.Fatalf("same key again: %d %+v, first %+v", status, again, first)
	}
	if status, _ := send(t, srv.URL, "evt-1:sms", `{"to":"+4930123456","body":"something else"}`); status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other message: %d, want 422", status)
	}
	if status, _ := send(t, srv.URL, "evt-2:sms", `{"to":"+4930999999","body":"hi"}`); status != http.StatusAccepted {
		t.Fatalf("second message: %d", status)
	}
	if got := list(t, srv.URL, "+4930123456"); len(got) != 1 || got[0].ID != first.ID || got[0].Body != "Your order is complete" {
		t.Fatalf("messages to +4930123456: %+v", got)
	}
	if got := list(t, srv.URL, ""); len(got) != 2 {
		t.Fatalf("%d messages in all, want 2", len(got))
	}
}

func TestSendRefusals(t *testing.T) {
	s := smssim.Handler(smssim.Config{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cases := []struct {
		name, key, body string
		want            int
	}{
		{"no key", "", `{"to":"+4930123456","body":"x"}`, http.StatusBadRequest},
		{"malformed", "k", `{"to":`, http.StatusBadRequest},
		{"not E.164", "k", `{"to":"030123456","body":"x"}`, http.StatusUnprocessableEntity},
		{"empty body", "k", `{"to":"+4930123456","body":""}`, http.StatusUnprocessableEntity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if status, _ := send(t, srv.URL, c.key, c.body); status != c.want {
				t.Fatalf("status %d, want %d", status, c.want)
			}
		})
	}
	s.Faults().SetDown(true)
	if status, _ := send(t, srv.URL, "k", `{"to":"+4930123456","body":"x"}`); status != http.StatusServiceUnavailable {
		t.Fatalf("down: %d, want 503", status)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/faults", bytes.NewReader([]byte(`{"down":false}`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("admin: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, _ := send(t, srv.URL, "k", `{"to":"+4930123456","body":"x"}`); status != http.StatusAccepted {
		t.Fatalf("up again: %d", status)
	}
	if got := list(t, srv.URL, ""); len(got) != 1 {
		t.Fatalf("%d messages kept, want 1", len(got))
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := smssim.LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"SMSSIM_FAILURE_RATE": "0.5"}))
	if err != nil || cfg.FailureRate != 0.5 || cfg.Addr != "127.0.0.1:8092" {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	if _, err := smssim.LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"SMSSIM_FAILURE_RATE": "-1"})); err == nil {
		t.Fatal("negative failure rate accepted")
	}
}
