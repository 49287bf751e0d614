// Package deps builds what a function needs from its configuration, once per process: the
// database pool today, and the same place grows the token verifier, the gateway client and
// telemetry. A function's handler.go registers its App with Setup; its tests call the App's
// constructor with their own database instead.
package deps

import (
	"context"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sethvargo/go-envconfig"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/config"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/pg"
	"github.com/faas-commerce/faas-commerce/shared/resilience"
)

// Deps are a function's connections.
type Deps struct {
	// DB is the process's one pool.
	DB *pgxpool.Pool
	// Source is where the function reads any settings of its own.
	Source config.Source
}

// Setup registers a function that uses the database: the pool is configured from the
// database-url secret and PG_* settings and closed at shutdown, and the App is wrapped in the
// access-token check (shared/auth, configured from AUTH_* settings).
func Setup(build func(context.Context, *Deps) (*fn.App, error)) *fn.Lazy {
	return fn.Setup(func(ctx context.Context) (*fn.App, error) {
		src := config.FromOS()
		var (
			env     pg.PoolConfig
			secrets pg.Secrets
		)
		if err := src.Load(ctx, &env, &secrets); err != nil {
			return nil, err
		}
		db, err := pg.Connect(ctx, secrets.DatabaseURL, env)
		if err != nil {
			return nil, err
		}
		a, err := build(ctx, &Deps{DB: db, Source: src})
		if err != nil {
			db.Close()
			return nil, err
		}
		// Every function checks the caller's access token; one declared public (AUTH_PUBLIC,
		// set once per function in stack.yml) lets requests without one through.
		mw, err := auth.FromEnv(ctx, src)
		if err != nil {
			db.Close()
			return nil, err
		}
		a.Use(mw)
		a.OnClose(db.Close)
		return a, nil
	})
}

// HTTPClient returns a client for the dependency name guarded by timeouts, retries and a
// circuit breaker (see shared/resilience), with settings from env variables under prefix,
// e.g. prefix "CATALOG_" reads CATALOG_TIMEOUT, CATALOG_MAX_ATTEMPTS and the rest.
func (d *Deps) HTTPClient(ctx context.Context, name, prefix string) (*http.Client, error) {
	s, err := d.settings(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return resilience.HTTPClient(name, s, nil, resilience.ProcessMetrics()), nil
}

// Guard returns a guard for a dependency that is not HTTP (SMTP), configured as HTTPClient.
func (d *Deps) Guard(ctx context.Context, name, prefix string) (*resilience.Guard, error) {
	s, err := d.settings(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return resilience.NewGuard(name, s, resilience.ProcessMetrics()), nil
}

func (d *Deps) settings(ctx context.Context, prefix string) (resilience.Settings, error) {
	var s resilience.Settings
	src := d.Source
	src.Env = envconfig.PrefixLookuper(prefix, src.Env)
	if err := src.Load(ctx, &s, nil); err != nil {
		return s, fmt.Errorf("%s settings: %w", prefix, err)
	}
	return s, nil
}
