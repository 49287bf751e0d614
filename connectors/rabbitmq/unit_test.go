package rabbitmq

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/events"
)

func TestVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Result
		want verdict
	}{
		{"200", Result{Status: 200}, ack},
		{"202", Result{Status: 202}, ack},
		{"no answer", Result{Err: errors.New("connection refused")}, retry},
		{"500", Result{Status: 500}, retry},
		{"502", Result{Status: 502}, retry},
		{"429", Result{Status: 429}, retry},
		{"408", Result{Status: 408}, retry},
		{"400", Result{Status: 400}, deadLetter},
		{"401", Result{Status: 401}, deadLetter},
		{"404", Result{Status: 404}, deadLetter},
		{"409", Result{Status: 409}, deadLetter},
		{"302", Result{Status: 302}, deadLetter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.verdict(); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 12 ", 12 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestTopicSurvivesDeadLetteringAndReplay(t *testing.T) {
	plain := amqp.Delivery{RoutingKey: "order.placed"}
	dead := amqp.Delivery{RoutingKey: "faas-commerce.charge", Headers: amqp.Table{
		"x-death": []any{amqp.Table{"reason": "rejected", "routing-keys": []any{"stock.reserved"}}},
	}}
	replayed := amqp.Delivery{RoutingKey: "faas-commerce.charge", Headers: amqp.Table{HeaderOriginalRoutingKey: "stock.reserved"}}
	for name, tc := range map[string]struct {
		d    amqp.Delivery
		want string
	}{"plain": {plain, "order.placed"}, "dead": {dead, "stock.reserved"}, "replayed": {replayed, "stock.reserved"}} {
		if got := Topic(tc.d); got != tc.want {
			t.Errorf("%s: %q", name, got)
		}
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	var cfg Config
	var sec Secrets
	if err := config.FromMap(map[string]string{}, dir).Load(context.Background(), &cfg, &sec); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Exchange != events.Exchange {
		t.Errorf("default exchange %q, want %q", cfg.Exchange, events.Exchange)
	}
	f := Function{Name: "charge-payment", Namespace: "openfaas-fn"}
	if cfg.Queue(f) != "faas-commerce.charge-payment" || cfg.DLQ(f) != "faas-commerce.charge-payment.dlq" || cfg.DLX() != "faas-commerce.dlx" {
		t.Errorf("names %s %s %s", cfg.Queue(f), cfg.DLQ(f), cfg.DLX())
	}
	if got := cfg.Queue(Function{Name: "x", Namespace: "team-a"}); got != "faas-commerce.x.team-a" {
		t.Errorf("other namespace: %s", got)
	}

	bad := cfg
	bad.MaxAttempts = 0
	if bad.Validate() == nil {
		t.Error("MAX_ATTEMPTS=0 accepted")
	}
	if err := config.FromMap(map[string]string{"DEFAULT_CONCURRENCY": "many"}, dir).Load(context.Background(), &Config{}, nil); err == nil {
		t.Error("a bad number was accepted")
	}

	// Credentials: secrets, or files named in the environment, never half of them.
	if err := os.WriteFile(filepath.Join(dir, "basic-auth-user"), []byte("admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.FromMap(nil, dir).Load(context.Background(), nil, &sec); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Credentials(sec); err == nil {
		t.Error("a user without a password was accepted")
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.BasicAuthPasswordFile = pw
	creds, err := cfg.Credentials(sec)
	if err != nil || creds.User != "admin" || creds.Password != "s3cret" {
		t.Errorf("credentials %q/%q: %v", creds.User, creds.Password, err)
	}
}
