// Command migrate applies the platform's migrations to the database named by DATABASE_URL,
// creating the database first when it does not exist.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/faas-commerce/faas-commerce/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/sethvargo/go-envconfig"
)

type config struct {
	// DatabaseURL is the database to migrate.
	DatabaseURL string `env:"DATABASE_URL, default=postgres://postgres@127.0.0.1:5432/faas_commerce?sslmode=disable"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var cfg config
	if err := envconfig.Process(ctx, &cfg); err != nil {
		return err
	}
	cc, err := pgx.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL cannot be parsed")
	}
	if err := ensureDatabase(ctx, cc); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("connect to %s on %s:%d: %w", cc.Database, cc.Host, cc.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	v, err := migrations.Apply(ctx, conn)
	if err != nil {
		return err
	}
	fmt.Printf("database %s is at migration %d\n", cc.Database, v)
	return nil
}

func ensureDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	admin := cc.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL on %s:%d: %w", cc.Host, cc.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", cc.Database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cc.Database}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", cc.Database, err)
	}
	return nil
}
