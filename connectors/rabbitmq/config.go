package rabbitmq

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Config is the connector program's environment.
type Config struct {
	// GatewayURL is the OpenFaaS gateway (or the local provider): functions are listed from
	// /system/functions and invoked at /function/NAME.
	GatewayURL string `env:"GATEWAY_URL, default=http://127.0.0.1:8080"`
	// AMQPURL is the RabbitMQ URL. It may hold a password, so it is never logged.
	AMQPURL string `env:"AMQP_URL, default=amqp://guest:guest@127.0.0.1:5672/"`
	// Exchange is the topic exchange events are published to (events.Exchange by default).
	Exchange string `env:"EXCHANGE, default=faas-commerce.events"`
	// QueuePrefix starts the name of every queue and exchange the connector declares:
	// PREFIX+NAME per function, PREFIX+NAME.dlq for its dead letters, PREFIX+dlx.
	QueuePrefix string `env:"QUEUE_PREFIX, default=faas-commerce."`
	// DefaultNamespace is the functions' namespace left out of queue names.
	DefaultNamespace string `env:"DEFAULT_NAMESPACE, default=openfaas-fn"`
	// RefreshInterval is how often the function list is read again (also on SIGHUP and
	// POST /refresh).
	RefreshInterval time.Duration `env:"REFRESH_INTERVAL, default=10s"`
	// DefaultConcurrency is each function's prefetch and number of concurrent invocations
	// unless its faas-commerce/concurrency annotation says otherwise.
	DefaultConcurrency int `env:"DEFAULT_CONCURRENCY, default=4"`
	// MaxAttempts is how many invocations one delivery gets when the function answers 5xx,
	// 429 or 408 or does not answer; the message is dead-lettered after the last.
	MaxAttempts int `env:"MAX_ATTEMPTS, default=5"`
	// RetryBase and RetryCap bound the backoff between attempts (doubling, with jitter).
	RetryBase time.Duration `env:"RETRY_BASE, default=500ms"`
	RetryCap  time.Duration `env:"RETRY_CAP, default=15s"`
	// RetryAfterCap is the longest Retry-After the connector waits; longer asks wait this long.
	RetryAfterCap time.Duration `env:"RETRY_AFTER_CAP, default=60s"`
	// InvokeTimeout bounds one invocation; a timeout is retried.
	InvokeTimeout time.Duration `env:"INVOKE_TIMEOUT, default=30s"`
	// DeliveryLimit is the queues' x-delivery-limit: how many times a message may return to
	// its queue (connector restarts, lost connections) before RabbitMQ dead-letters it. It is
	// a guard against a message that crashes the connector; changing it needs new queues.
	DeliveryLimit int `env:"DELIVERY_LIMIT, default=10"`
	// DrainTimeout is how long in-flight invocations may finish at shutdown or when a
	// function's consumer stops.
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT, default=30s"`
	// MetricsAddr is where /metrics, /healthz and POST /refresh listen (loopback by default).
	MetricsAddr string `env:"CONNECTOR_METRICS_ADDR, default=127.0.0.1:9472"`
	// BasicAuthUserFile and BasicAuthPasswordFile, when set, are files holding the gateway's
	// credentials; otherwise the secrets basic-auth-user and basic-auth-password are read.
	BasicAuthUserFile     string `env:"BASIC_AUTH_USER_FILE"`
	BasicAuthPasswordFile string `env:"BASIC_AUTH_PASSWORD_FILE"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// Telemetry says where spans go (OTEL_TRACES_EXPORTER and the rest).
	Telemetry telemetry.Config
}

// Secrets are the connector's secret files (both optional: a gateway without auth needs none).
type Secrets struct {
	// User is the gateway's basic-auth user, from basic-auth-user.
	User string `env:"basic_auth_user"`
	// Password is the gateway's basic-auth password, from basic-auth-password.
	Password string `env:"basic_auth_password"`
}

// Credentials returns the gateway credentials: from the files the config names, else from
// the secrets.
func (c Config) Credentials(s Secrets) (Secrets, error) {
	read := func(path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("gateway credentials: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	var err error
	if c.BasicAuthUserFile != "" {
		if s.User, err = read(c.BasicAuthUserFile); err != nil {
			return Secrets{}, err
		}
	}
	if c.BasicAuthPasswordFile != "" {
		if s.Password, err = read(c.BasicAuthPasswordFile); err != nil {
			return Secrets{}, err
		}
	}
	if (s.User == "") != (s.Password == "") {
		return Secrets{}, errors.New("gateway credentials: a user without a password or a password without a user")
	}
	return s, nil
}

// Validate refuses settings that would make the connector spin or stall.
func (c Config) Validate() error {
	switch {
	case c.DefaultConcurrency < 1:
		return fmt.Errorf("DEFAULT_CONCURRENCY must be at least 1, got %d", c.DefaultConcurrency)
	case c.MaxAttempts < 1:
		return fmt.Errorf("MAX_ATTEMPTS must be at least 1, got %d", c.MaxAttempts)
	case c.DeliveryLimit < 1:
		return fmt.Errorf("DELIVERY_LIMIT must be at least 1, got %d", c.DeliveryLimit)
	case c.RetryBase <= 0 || c.RetryCap < c.RetryBase:
		return errors.New("RETRY_BASE must be positive and RETRY_CAP at least RETRY_BASE")
	case c.RefreshInterval <= 0 || c.InvokeTimeout <= 0 || c.RetryAfterCap < 0 || c.DrainTimeout <= 0:
		return errors.New("REFRESH_INTERVAL, INVOKE_TIMEOUT and DRAIN_TIMEOUT must be positive and RETRY_AFTER_CAP not negative")
	case c.QueuePrefix == "" || c.Exchange == "":
		return errors.New("QUEUE_PREFIX and EXCHANGE must not be empty")
	}
	return nil
}

// DLX is the dead-letter exchange's name.
func (c Config) DLX() string { return c.QueuePrefix + "dlx" }

// Queue is a function's queue name.
func (c Config) Queue(f Function) string {
	if f.Namespace == "" || f.Namespace == c.DefaultNamespace {
		return c.QueuePrefix + f.Name
	}
	return c.QueuePrefix + f.Name + "." + f.Namespace
}

// DLQ is a function's dead-letter queue name.
func (c Config) DLQ(f Function) string { return c.Queue(f) + ".dlq" }
