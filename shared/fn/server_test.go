package fn

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"
)

// TestRunServesAndDrains starts the template's server on a free port, checks the health
// endpoint, the path and body reaching Handle, the body limit, and that a request in flight when
// the process is told to stop still completes.
func TestRunServesAndDrains(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	app := New("srv").
		Route("POST /echo/{word}", func(w http.ResponseWriter, r *http.Request) error {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s:%s", r.PathValue("word"), b)
			return nil
		}).
		Route("GET /slow", func(w http.ResponseWriter, r *http.Request) error {
			entered <- struct{}{}
			<-release
			_, _ = io.WriteString(w, "done")
			return nil
		})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cfg := ServerConfig{BindAddr: "127.0.0.1", Port: 0, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, ExecTimeout: 5 * time.Second, MaxBodyBytes: 32}
	addrs := make(chan net.Addr, 1)
	ran := make(chan error, 1)
	go func() { ran <- Run(ctx, cfg, app.Handle, func(a net.Addr) { addrs <- a }) }()
	var base string
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case err := <-ran:
		t.Fatalf("Run: %v", err)
	}

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(HealthPath); code != 200 || body != "OK\n" {
		t.Fatalf("health: %d %q", code, body)
	}
	resp, err := http.Post(base+"/echo/hi?x=1", "application/json", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hi:body" {
		t.Fatalf("echo: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Post(base+"/echo/hi", "application/json", bytes.NewReader(make([]byte, 100)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "body_too_large") {
		t.Fatalf("oversize: %d %s", resp.StatusCode, b)
	}

	slow := make(chan string, 1)
	go func() {
		code, body := get("/slow")
		slow <- fmt.Sprint(code, body)
	}()
	<-entered
	stop() // SIGTERM in Main
	close(release)
	if got := <-slow; got != "200done" {
		t.Fatalf("in-flight request during shutdown: %s", got)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
}

func TestLazyReportsSetupFailure(t *testing.T) {
	l := &Lazy{build: func(context.Context) (*App, error) { return nil, fmt.Errorf("config: DATABASE missing") }}
	resp, err := l.Handle(handler.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(resp.Body), "not_ready") || strings.Contains(string(resp.Body), "DATABASE") {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
	}
}
