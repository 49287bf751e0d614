package platform

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/faas-commerce/faas-commerce/shared/broker"
)

// RabbitNode is a RabbitMQ node of a test's own, for tests that stop and start the broker
// while other tests use the machine's node. It listens on loopback on free ports, keeps its
// data and logs in a temp folder and runs without plugins.
type RabbitNode struct {
	// Name is the node name for rabbitmqctl -n.
	Name string
	// URL is the AMQP URL of its default vhost's root (add a vhost name).
	URL string

	dir string
	cmd *exec.Cmd
}

// StartRabbitNode starts a private RabbitMQ node and stops it (and removes its files) when t
// ends. The Debian wrapper runs the server as the rabbitmq user, so the folder is theirs.
func StartRabbitNode(t testing.TB) *RabbitNode {
	t.Helper()
	dir, err := os.MkdirTemp("", "fc-e2e-rabbit-")
	if err != nil {
		t.Fatal(err)
	}
	name := "fc-e2e-" + strings.ToLower(rand.Text()[:8]) + "@localhost"
	port, dist := freePort(t), freePort(t)
	n := &RabbitNode{Name: name, URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port), dir: dir}
	for file, data := range map[string]string{"enabled_plugins": "[].\n", "rabbitmq.conf": "loopback_users.guest = true\n"} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chownTo(dir, "rabbitmq"); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "server.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("rabbitmq-server")
	cmd.Env = append(os.Environ(),
		"RABBITMQ_NODENAME="+name, "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port), "RABBITMQ_DIST_PORT="+strconv.Itoa(dist),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"), "RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start rabbitmq-server: %v", err)
	}
	n.cmd = cmd
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // observed through exited
		out.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		// A clean stop first; the process group (su, beam, epmd children) if it lingers.
		_, _ = n.ctl("stop")
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("--- last lines of the private RabbitMQ node ---\n%s", tail(filepath.Join(dir, "server.out")))
		}
		_ = os.RemoveAll(dir) // our own temp folder
	})
	// rabbitmqctl status answers once the node runs; await_startup then waits for the app.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := n.ctl("status"); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("rabbitmq-server exited:\n%s", tail(filepath.Join(dir, "server.out")))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("private RabbitMQ node %s did not start:\n%s", name, tail(filepath.Join(dir, "server.out")))
		}
		time.Sleep(250 * time.Millisecond) // polling the node's status, bounded by the deadline
	}
	n.Ctl(t, "await_startup")
	return n
}

// ctl runs rabbitmqctl against the node.
func (n *RabbitNode) ctl(args ...string) (string, error) {
	out, err := exec.Command("rabbitmqctl", append([]string{"-q", "-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl -n %s %s: %w\n%s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Ctl runs rabbitmqctl against the node and fails t when it fails.
func (n *RabbitNode) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.ctl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// StopApp stops the RabbitMQ application (the Erlang node keeps running): every connection
// drops and nothing is accepted until StartApp.
func (n *RabbitNode) StopApp(t testing.TB) { t.Helper(); n.Ctl(t, "stop_app") }

// StartApp starts the application again and waits until it runs.
func (n *RabbitNode) StartApp(t testing.TB) {
	t.Helper()
	n.Ctl(t, "start_app")
	n.Ctl(t, "await_startup")
}

func chownTo(dir, username string) error {
	u, err := user.Lookup(username)
	if err != nil {
		return err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return err
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
}

// Dial connects to the platform's vhost.
func (p *Platform) Dial(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(p.AMQPURL)
	if err != nil {
		t.Fatalf("dial RabbitMQ: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // closing an already closed connection is fine
	return conn
}

// Publish publishes msgs on the platform's vhost with publisher confirms (mandatory, so an
// unroutable message is an error too).
func (p *Platform) Publish(t testing.TB, msgs ...broker.Message) {
	t.Helper()
	conn := p.Dial(t)
	defer conn.Close()
	pub, err := broker.NewPublisher(conn, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := errors.Join(pub.Publish(ctx, msgs...)...); err != nil {
		t.Fatalf("publish %d messages: %v", len(msgs), err)
	}
}

// QueueName is the connector's queue of a function on this platform, DLQName its DLQ.
func (p *Platform) QueueName(function string) string { return "fc-e2e." + function }

// DLQName is the connector's dead-letter queue of a function on this platform.
func (p *Platform) DLQName(function string) string { return "fc-e2e." + function + ".dlq" }

// QueueDepths returns the ready messages of each queue (unacknowledged ones not included).
func (p *Platform) QueueDepths(t testing.TB, queues ...string) map[string]int {
	t.Helper()
	conn := p.Dial(t)
	defer conn.Close()
	out := map[string]int{}
	for _, q := range queues {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			t.Fatalf("inspect queue %s: %v", q, err)
		}
		out[q] = st.Messages
		_ = ch.Close() // a fresh channel per queue; closing it has nothing to report
	}
	return out
}

// DeadLetters returns the number of messages in every queue function's DLQ.
func (p *Platform) DeadLetters(t testing.TB) map[string]int {
	t.Helper()
	var qs []string
	for _, f := range p.QueueFunctions {
		qs = append(qs, p.DLQName(f))
	}
	return p.QueueDepths(t, qs...)
}
