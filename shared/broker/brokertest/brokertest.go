// Package brokertest gives each test its own RabbitMQ virtual host on the real server on
// loopback (amqp://guest:guest@127.0.0.1:5672, or TEST_AMQP_URL's host and credentials), made
// and removed with rabbitmqctl, and lets a test drop every connection of its vhost from the
// server side.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// URLEnv names the variable with the base AMQP URL of the test server (its vhost is ignored).
const URLEnv = "TEST_AMQP_URL"

const defaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// VHost is one test's virtual host.
type VHost struct {
	// Name of the vhost.
	Name string
	// URL connects to it.
	URL string
}

// New creates a vhost for t, grants the test user every permission on it and deletes it
// (with everything in it) when t ends. RabbitMQ is required: a missing server fails the test.
func New(t testing.TB) *VHost {
	t.Helper()
	base := os.Getenv(URLEnv)
	if base == "" {
		base = defaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("brokertest: %s does not parse", URLEnv)
	}
	user := u.User.Username()
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	name := "fc-test-" + hex.EncodeToString(b)
	ctl(t, "add_vhost", name)
	t.Cleanup(func() { ctl(t, "delete_vhost", name) })
	ctl(t, "set_permissions", "-p", name, user, ".*", ".*", ".*")
	u.Path = "/" + name
	u.RawPath = ""
	return &VHost{Name: name, URL: u.String()}
}

// CloseConnections closes every client connection to the vhost from the server side, as a
// broker restart or a network cut would, and returns how many it closed.
func (v *VHost) CloseConnections(t testing.TB) int {
	t.Helper()
	out := ctl(t, "close_all_connections", "-p", v.Name, "closed by test")
	var n int
	for _, line := range strings.Split(out, "\n") {
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "Closed %d connections", &n); err == nil {
			return n
		}
	}
	return 0
}

// Dial opens a connection to the vhost, closed when t ends.
func (v *VHost) Dial(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(v.URL)
	if err != nil {
		t.Fatalf("brokertest: dial: %v (is RabbitMQ running on 127.0.0.1:5672?)", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Channel opens a channel on a fresh connection to the vhost.
func (v *VHost) Channel(t testing.TB) *amqp.Channel {
	t.Helper()
	ch, err := v.Dial(t).Channel()
	if err != nil {
		t.Fatalf("brokertest: channel: %v", err)
	}
	return ch
}

func ctl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"--quiet"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("brokertest: rabbitmqctl %s: %v: %s", args[0], err, out)
	}
	return string(out)
}
