package relay

import (
	"errors"
	"fmt"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/telemetry"
)

// Config is the relay program's environment.
type Config struct {
	// AMQPURL is the RabbitMQ URL. It may hold a password, so it is never logged.
	AMQPURL string `env:"AMQP_URL, default=amqp://guest:guest@127.0.0.1:5672/"`
	// Exchange is the topic exchange events are published to (events.Exchange by default).
	Exchange string `env:"EXCHANGE, default=faas-commerce.events"`
	// BatchSize is the most rows per transaction, which is also the confirms kept in flight.
	BatchSize int `env:"RELAY_BATCH_SIZE, default=256"`
	// PollInterval is how often the outbox is read when no NOTIFY arrives.
	PollInterval time.Duration `env:"RELAY_POLL_INTERVAL, default=1s"`
	// MaxAttempts is how many returned or nacked publishes park a row.
	MaxAttempts int `env:"RELAY_MAX_ATTEMPTS, default=10"`
	// RetryBase and RetryCap bound the backoff between attempts at one row (doubling).
	RetryBase time.Duration `env:"RELAY_RETRY_BASE, default=1s"`
	RetryCap  time.Duration `env:"RELAY_RETRY_CAP, default=5m"`
	// MetricsAddr is where /metrics and /healthz listen (loopback by default).
	MetricsAddr string `env:"RELAY_METRICS_ADDR, default=127.0.0.1:9471"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// Pool tunes the PostgreSQL pool.
	Pool pg.PoolConfig
	// Telemetry says where spans go (OTEL_TRACES_EXPORTER and the rest). The relay only
	// continues traces the functions started (each publish is a child of its event's stored
	// trace context), so it starts none of its own: its outbox polling is not a trace each.
	Telemetry telemetry.Config
}

// Settings returns the relay's settings from the config.
func (c Config) Settings() Settings {
	return Settings{
		Exchange: c.Exchange, BatchSize: c.BatchSize, PollInterval: c.PollInterval,
		MaxAttempts: c.MaxAttempts, RetryBase: c.RetryBase, RetryCap: c.RetryCap,
	}
}

// Validate refuses values that would make the relay spin or stall.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 1:
		return fmt.Errorf("RELAY_BATCH_SIZE must be at least 1, got %d", c.BatchSize)
	case c.MaxAttempts < 1:
		return fmt.Errorf("RELAY_MAX_ATTEMPTS must be at least 1, got %d", c.MaxAttempts)
	case c.PollInterval <= 0 || c.RetryBase <= 0 || c.RetryCap < c.RetryBase:
		return errors.New("RELAY_POLL_INTERVAL and RELAY_RETRY_BASE must be positive and RELAY_RETRY_CAP at least RELAY_RETRY_BASE")
	}
	return nil
}
