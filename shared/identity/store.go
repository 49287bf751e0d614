package identity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/pg"
)

// ClientRoles are the roles an OAuth2 client may hold; customers sign in instead.
var ClientRoles = []string{"admin", "service"}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

var (
	// ErrInvalidClient: the client is unknown or its secret is wrong (one answer for both).
	ErrInvalidClient = fault.New(fault.Unauthenticated, "invalid_client", "client authentication failed")
	// ErrInvalidCredentials: the e-mail is unknown or the password is wrong (one answer for both).
	ErrInvalidCredentials = fault.New(fault.Unauthenticated, "invalid_credentials", "the e-mail address or password is wrong")
	// ErrClientExists: CreateClient was given an id already in use.
	ErrClientExists = fault.New(fault.Conflict, "client_exists", "a client with this id already exists")
)

// Client is an OAuth2 client (client credentials grant).
type Client struct {
	ID    string
	Name  string
	Roles []string
}

// Customer is a customer who signed in.
type Customer struct {
	ID uuid.UUID
}

// Store keeps clients and credentials in the identity schema.
type Store struct {
	db      *pgxpool.Pool
	compare compareFunc
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db, compare: compareSecret} }

// CreateClient registers a client with roles from ClientRoles and returns its secret, which is
// shown once and stored only as a hash.
func (s *Store) CreateClient(ctx context.Context, c Client) (secret string, err error) {
	return s.putClient(ctx, c, false)
}

// PutClient creates the client or, when it exists, replaces its name, roles and secret (the
// old secret stops working); it returns the new secret.
func (s *Store) PutClient(ctx context.Context, c Client) (secret string, err error) {
	return s.putClient(ctx, c, true)
}

func (s *Store) putClient(ctx context.Context, c Client, replace bool) (secret string, err error) {
	var v fault.Validator
	v.Check(clientIDPattern.MatchString(c.ID), "client_id", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	v.Check(strings.TrimSpace(c.Name) != "" && len(c.Name) <= 200, "name", "must be 1 to 200 characters")
	v.Check(len(c.Roles) > 0, "roles", "at least one role is required")
	for _, r := range c.Roles {
		v.Check(slices.Contains(ClientRoles, r), "roles", fmt.Sprintf("%q is not a client role (admin, service)", r))
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	secret = NewSecret()
	hash, err := HashSecret(secret)
	if err != nil {
		return "", err
	}
	q := "INSERT INTO identity.clients (client_id, secret_hash, roles, name) VALUES ($1, $2, $3, $4)"
	if replace {
		q += ` ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, roles = EXCLUDED.roles,
			name = EXCLUDED.name, updated_at = now()`
	}
	_, err = s.db.Exec(ctx, q, c.ID, hash, c.Roles, strings.TrimSpace(c.Name))
	if pg.IsUniqueViolation(err, "clients_pkey") {
		return "", ErrClientExists
	}
	if err != nil {
		return "", fmt.Errorf("create client: %w", err)
	}
	return secret, nil
}

// AuthenticateClient returns the client when secret is its secret, ErrInvalidClient otherwise.
// An unknown client costs the same hash work as a wrong secret.
func (s *Store) AuthenticateClient(ctx context.Context, id, secret string) (Client, error) {
	c := Client{ID: id}
	var hash string
	err := s.db.QueryRow(ctx, "SELECT secret_hash, roles, name FROM identity.clients WHERE client_id = $1", id).Scan(&hash, &c.Roles, &c.Name)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Client{}, fmt.Errorf("read client: %w", err)
	}
	if !found {
		if hash, err = dummyHash(); err != nil {
			return Client{}, err
		}
	}
	ok, err := s.compare(secret, hash)
	if err != nil {
		return Client{}, err
	}
	if !ok || !found {
		return Client{}, ErrInvalidClient
	}
	return c, nil
}

// InsertCredential stores a customer's password hash inside tx, the transaction that creates
// the customer.
func InsertCredential(ctx context.Context, tx pgx.Tx, customerID uuid.UUID, email, passwordHash string) error {
	_, err := tx.Exec(ctx, "INSERT INTO identity.credentials (customer_id, email, password_hash) VALUES ($1, $2, $3)",
		customerID, email, passwordHash)
	if err != nil {
		return fmt.Errorf("store credential: %w", err)
	}
	return nil
}

// PasswordMatches reports whether password is the customer's, inside tx (a registration retry
// proves it is the same person). A customer without a credential never matches.
func PasswordMatches(ctx context.Context, tx pgx.Tx, customerID uuid.UUID, password string) (bool, error) {
	var hash string
	err := tx.QueryRow(ctx, "SELECT password_hash FROM identity.credentials WHERE customer_id = $1", customerID).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read credential: %w", err)
	}
	return compareSecret(password, hash)
}

// SignIn returns the customer whose e-mail (ignoring case) and password these are, and
// ErrInvalidCredentials for an unknown e-mail and a wrong password alike, after the same hash
// work.
func (s *Store) SignIn(ctx context.Context, email, password string) (Customer, error) {
	var (
		c    Customer
		hash string
	)
	err := s.db.QueryRow(ctx, "SELECT customer_id, password_hash FROM identity.credentials WHERE lower(email) = lower($1)", email).Scan(&c.ID, &hash)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, fmt.Errorf("read credential: %w", err)
	}
	if !found {
		if hash, err = dummyHash(); err != nil {
			return Customer{}, err
		}
	}
	ok, err := s.compare(password, hash)
	if err != nil {
		return Customer{}, err
	}
	if !ok || !found {
		return Customer{}, ErrInvalidCredentials
	}
	return c, nil
}
