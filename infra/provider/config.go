package provider

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Config is the provider's configuration, read from the environment.
type Config struct {
	// Addr is the host:port the OpenFaaS API listens on. Loopback unless told otherwise.
	Addr string `env:"PROVIDER_ADDR, default=127.0.0.1:8080"`
	// StateDir holds the generated admin credentials, secrets, per-function secret folders and logs.
	StateDir string `env:"PROVIDER_STATE_DIR, default=.state"`
	// BinDir holds the function binaries; an image resolves to BinDir/<last path element without tag>.
	BinDir string `env:"FUNCTIONS_BIN_DIR, default=bin"`
	// FunctionBindAddr is passed to each function process as BIND_ADDR.
	FunctionBindAddr string `env:"FUNCTION_BIND_ADDR, default=127.0.0.1"`
	// BasicAuth protects /system/* with the credentials in StateDir/auth.
	BasicAuth bool `env:"PROVIDER_BASIC_AUTH, default=true"`

	// ReadyTimeout bounds how long a request waits for a replica to become ready (cold start)
	// before it is answered 503.
	ReadyTimeout time.Duration `env:"PROVIDER_READY_TIMEOUT, default=30s"`
	// StopTimeout is how long a replica may drain after SIGTERM before it gets SIGKILL.
	StopTimeout time.Duration `env:"PROVIDER_STOP_TIMEOUT, default=10s"`
	// UpstreamTimeout bounds one invocation of a function.
	UpstreamTimeout time.Duration `env:"PROVIDER_UPSTREAM_TIMEOUT, default=60s"`
	// MaxBodyBytes bounds an invocation's request body (it is buffered so that a request can be
	// retried on another replica when the first one refuses the connection).
	MaxBodyBytes int64 `env:"PROVIDER_MAX_BODY_BYTES, default=33554432"`

	// ScaleInterval is how often the autoscaler looks at load and idleness.
	ScaleInterval time.Duration `env:"PROVIDER_SCALE_INTERVAL, default=1s"`
	// ScaleDownDelay is how long load must stay below the current replica count before the
	// autoscaler removes a replica.
	ScaleDownDelay time.Duration `env:"PROVIDER_SCALE_DOWN_DELAY, default=30s"`
	// DefaultZeroDuration is the idle time before a function labelled
	// com.openfaas.scale.zero=true goes to zero replicas, when it sets no zero-duration.
	DefaultZeroDuration time.Duration `env:"PROVIDER_DEFAULT_ZERO_DURATION, default=15m"`
	// RestartBackoffMax caps the back-off between restarts of a crashing replica.
	RestartBackoffMax time.Duration `env:"PROVIDER_RESTART_BACKOFF_MAX, default=10s"`

	// LogLines is how many log lines are kept per function for /system/logs.
	LogLines int `env:"PROVIDER_LOG_LINES, default=5000"`

	// Async configures durable asynchronous invocation through RabbitMQ.
	Async AsyncConfig `env:", prefix=ASYNC_"`

	// Auth is the token gate in front of protected functions (off unless keys are configured).
	Auth AuthConfig `env:", prefix=PROVIDER_AUTH_"`
	// RateLimit limits invocations per client (off unless a rate is set).
	RateLimit RateLimitConfig `env:", prefix=PROVIDER_RATE_"`
}

// AuthConfig configures the token gate: for a function whose deployment does not set
// AUTH_PUBLIC=true, /function/ and /async-function/ calls need a valid access token (checked
// as the functions check it, with shared/auth) before the provider forwards them or wakes the
// function from zero. The gate is on when JWKSURL or PublicKeysFile is set.
type AuthConfig struct {
	// JWKSURL is where the token signing keys are fetched (a JWK Set). When it names this
	// provider's own /function/NAME, the keys are fetched in-process, past the gate and the
	// rate limit.
	JWKSURL string `env:"JWKS_URL"`
	// PublicKeysFile is a PEM file of trusted public keys (the jwt-public-keys secret); used
	// instead of JWKSURL.
	PublicKeysFile string `env:"PUBLIC_KEYS_FILE"`
	// Issuer is the iss every token must carry.
	Issuer string `env:"ISSUER, default=http://127.0.0.1:8080/function/issue-token"`
	// Audience must be in every token's aud.
	Audience string `env:"AUDIENCE, default=faas-commerce"`
	// JWKSMinRefresh is the least time between two JWKS fetches (an unknown kid triggers one).
	JWKSMinRefresh time.Duration `env:"JWKS_MIN_REFRESH, default=30s"`
	// JWKSTTL is how long fetched keys are used before they are fetched again.
	JWKSTTL time.Duration `env:"JWKS_TTL, default=5m"`
}

// Enabled reports whether the gate checks tokens.
func (a AuthConfig) Enabled() bool { return a.JWKSURL != "" || a.PublicKeysFile != "" }

// RateLimitConfig configures the per-client limit on /function/ and /async-function/ calls:
// a token bucket per client, keyed by the verified token's client_id and sub, or by the
// caller's address when the call carries no verified token. /system/* is never limited.
type RateLimitConfig struct {
	// Limit is the steady rate in requests per second per client; 0 turns the limit off.
	Limit float64 `env:"LIMIT, default=0"`
	// Burst is how many requests a client may send at once (the bucket size); 0 means
	// ceil(Limit).
	Burst int `env:"BURST, default=0"`
	// MaxClients bounds how many clients' buckets are kept (idle, full buckets are dropped first).
	MaxClients int `env:"MAX_CLIENTS, default=100000"`
}

// AsyncConfig configures /async-function/ and its RabbitMQ queue.
type AsyncConfig struct {
	// AMQPURL is the RabbitMQ URL; empty disables async invocation (503).
	AMQPURL string `env:"AMQP_URL, default=amqp://guest:guest@127.0.0.1:5672/"`
	// Exchange is the durable direct exchange async calls are published to.
	Exchange string `env:"EXCHANGE, default=faas-provider.async"`
	// Queue is the durable quorum queue async calls are kept in until they are done.
	Queue string `env:"QUEUE, default=faas-provider.async-calls"`
	// Consume runs the worker that invokes queued calls; false only enqueues (for a provider
	// that shares the queue with another one that does the work).
	Consume bool `env:"CONSUME, default=true"`
	// Concurrency is how many async calls run at once (and the consumer prefetch).
	Concurrency int `env:"CONCURRENCY, default=8"`
	// MaxAttempts bounds invocations of one call when the function answers 5xx or 429.
	MaxAttempts int `env:"MAX_ATTEMPTS, default=5"`
	// RetryBackoff is the first wait between attempts; it doubles per attempt up to RetryBackoffMax.
	RetryBackoff time.Duration `env:"RETRY_BACKOFF, default=500ms"`
	// RetryBackoffMax caps the wait between attempts.
	RetryBackoffMax time.Duration `env:"RETRY_BACKOFF_MAX, default=10s"`
	// CallbackTimeout bounds one POST to X-Callback-Url.
	CallbackTimeout time.Duration `env:"CALLBACK_TIMEOUT, default=10s"`
}

// LoadConfig reads the configuration through lookuper (envconfig.OsLookuper() in production,
// envconfig.MapLookuper in tests).
func LoadConfig(ctx context.Context, lookuper envconfig.Lookuper) (Config, error) {
	var cfg Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: lookuper}); err != nil {
		return Config{}, fmt.Errorf("read provider config: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c Config) validate() error {
	switch {
	case c.StateDir == "":
		return fmt.Errorf("PROVIDER_STATE_DIR is empty")
	case c.BinDir == "":
		return fmt.Errorf("FUNCTIONS_BIN_DIR is empty")
	case c.ReadyTimeout <= 0 || c.StopTimeout <= 0 || c.UpstreamTimeout <= 0 || c.ScaleInterval <= 0:
		return fmt.Errorf("timeouts and intervals must be positive")
	case c.LogLines <= 0:
		return fmt.Errorf("PROVIDER_LOG_LINES must be positive")
	case c.Async.Concurrency <= 0 || c.Async.MaxAttempts <= 0:
		return fmt.Errorf("ASYNC_CONCURRENCY and ASYNC_MAX_ATTEMPTS must be positive")
	case c.Auth.JWKSURL != "" && c.Auth.PublicKeysFile != "":
		return fmt.Errorf("set one of PROVIDER_AUTH_JWKS_URL and PROVIDER_AUTH_PUBLIC_KEYS_FILE, not both")
	case c.Auth.Enabled() && (c.Auth.Issuer == "" || c.Auth.Audience == ""):
		return fmt.Errorf("PROVIDER_AUTH_ISSUER and PROVIDER_AUTH_AUDIENCE must not be empty")
	case c.Auth.Enabled() && (c.Auth.JWKSMinRefresh <= 0 || c.Auth.JWKSTTL <= 0):
		return fmt.Errorf("PROVIDER_AUTH_JWKS_MIN_REFRESH and PROVIDER_AUTH_JWKS_TTL must be positive")
	case c.RateLimit.Limit < 0 || math.IsNaN(c.RateLimit.Limit) || math.IsInf(c.RateLimit.Limit, 0) || c.RateLimit.Burst < 0:
		return fmt.Errorf("PROVIDER_RATE_LIMIT and PROVIDER_RATE_BURST must be finite and not negative")
	case c.RateLimit.MaxClients <= 0:
		return fmt.Errorf("PROVIDER_RATE_MAX_CLIENTS must be positive")
	}
	return nil
}
