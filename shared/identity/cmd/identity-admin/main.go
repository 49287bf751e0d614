// Command identity-admin manages the identity context's secrets and clients:
//
//	identity-admin keys -dir DIR [-rotate | -retire]
//	    DIR/jwt-signing-keys: create it with one new Ed25519 key when missing; -rotate puts a
//	    new key first and keeps the others (rotation starts); -retire keeps only the first
//	    (rotation ends; run it no sooner than the token lifetime plus 30 s after -rotate).
//	    DIR/jwt-public-keys is rewritten from it every time.
//	identity-admin client -id ID -name NAME -roles admin,service [-secret-file FILE] [-id-file FILE]
//	    create the OAuth2 client or replace its name, roles and secret; the new secret is
//	    written to FILE (mode 0600) or, without -secret-file, to standard output.
//
// The database is DATABASE_URL (default postgres://postgres@127.0.0.1:5432/faas_commerce).
// Nothing secret is ever written to standard error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/identity"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "identity-admin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: identity-admin keys|client [flags]")
	}
	switch args[0] {
	case "keys":
		fs := flag.NewFlagSet("keys", flag.ContinueOnError)
		dir := fs.String("dir", "", "secrets directory")
		rotate := fs.Bool("rotate", false, "put a new key first, keep the others")
		retire := fs.Bool("retire", false, "keep only the first key")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" || (*rotate && *retire) {
			return errors.New("keys: -dir is required; -rotate and -retire exclude each other")
		}
		return keys(*dir, *rotate, *retire)
	case "client":
		fs := flag.NewFlagSet("client", flag.ContinueOnError)
		id := fs.String("id", "", "client id")
		name := fs.String("name", "", "what the client is")
		roles := fs.String("roles", "", "comma-separated roles: admin, service")
		secretFile := fs.String("secret-file", "", "write the secret here (mode 0600) instead of standard output")
		idFile := fs.String("id-file", "", "also write the client id here (for the auth-client-id secret)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return client(ctx, identity.Client{ID: *id, Name: *name, Roles: strings.Split(*roles, ",")}, *secretFile, *idFile)
	default:
		return fmt.Errorf("unknown command %q (keys, client)", args[0])
	}
}

func keys(dir string, rotate, retire bool) error {
	path := filepath.Join(dir, "jwt-signing-keys")
	text, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if text, err = auth.NewEd25519PEM(); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	case rotate:
		k, err := auth.NewEd25519PEM()
		if err != nil {
			return err
		}
		text = append(k, text...)
	}
	list, err := auth.ParsePrivateKeys(text)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if retire {
		list = list[:1]
	}
	if text, err = auth.EncodePrivateKeys(list); err != nil {
		return err
	}
	pubs := make([]auth.PublicKey, len(list))
	for i, k := range list {
		pubs[i] = k.PublicKey
	}
	pubText, err := auth.EncodePublicKeys(pubs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeFile(path, text); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "jwt-public-keys"), pubText); err != nil {
		return err
	}
	for i, k := range pubs {
		state := "verifies"
		if i == 0 {
			state = "signs"
		}
		fmt.Printf("key %s (%s) %s\n", k.ID, k.Alg, state)
	}
	return nil
}

func client(ctx context.Context, c identity.Client, secretFile, idFile string) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/faas_commerce?sslmode=disable"
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		return errors.New("DATABASE_URL cannot be parsed")
	}
	defer db.Close()
	secret, err := identity.NewStore(db).PutClient(ctx, c)
	if err != nil {
		return err
	}
	if idFile != "" {
		if err := writeFile(idFile, []byte(c.ID)); err != nil {
			return err
		}
	}
	if secretFile == "" {
		fmt.Println(secret)
		return nil
	}
	if err := writeFile(secretFile, []byte(secret)); err != nil {
		return err
	}
	fmt.Printf("client %s (%s): secret written to %s\n", c.ID, strings.Join(c.Roles, ","), secretFile)
	return nil
}

// writeFile replaces path atomically with mode 0600.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
