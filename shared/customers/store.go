package customers

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/idempotency"
	"github.com/faas-commerce/faas-commerce/shared/identity"
	"github.com/faas-commerce/faas-commerce/shared/pg"
)

// Store keeps customers in the customers schema.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const columns = "id, email, name, phone, notify_email, notify_sms, version, created_at, updated_at"

// Constraint names in migrations/003_customers.sql that the store maps to client errors.
const (
	emailKey = "customers_email_key"
	smsCheck = "customers_sms_needs_phone"
)

var keyTable = idempotency.Table{"customers", "idempotency_keys"}

func scan(row pgx.Row) (Customer, error) {
	var (
		c     Customer
		phone *string
	)
	err := row.Scan(&c.ID, &c.Email, &c.Name, &phone, &c.Notify.Email, &c.Notify.SMS, &c.Version, &c.CreatedAt, &c.UpdatedAt)
	if phone != nil {
		c.Phone = *phone
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// request is what a registration asks for, defaults applied: two requests that mean the same
// customer hash the same under an idempotency key. The password is deliberately not part of it:
// the stored request hash is a fast SHA-256, and a password must only ever meet argon2id. So a
// retry with the same key and another password replays the first answer and changes nothing.
type request struct {
	Email  string `json:"email"`
	Name   string `json:"name"`
	Phone  string `json:"phone"`
	Notify Notify `json:"notify"`
}

// Create registers a customer. A retry is safe: with an idempotency key the first result is
// replayed; without one, a customer with the same e-mail (exactly as given) and the same fields
// is returned as Existing, and one whose e-mail matches ignoring case but differs in anything
// else is ErrEmailTaken. The password's argon2id hash is stored in identity.credentials in the
// same transaction as the customer; a retry without a key returns the existing customer only
// when its password is also the same (otherwise ErrEmailTaken), so the fields of a customer
// cannot be read back by guessing them.
func (s *Store) Create(ctx context.Context, n NewCustomer, key string) (idempotency.Result[Customer], error) {
	if n.Password == "" {
		return idempotency.Result[Customer]{}, fault.ErrValidation.With(fault.Detail{Field: "password", Message: "is required"})
	}
	hash, err := identity.HashSecret(n.Password)
	if err != nil {
		return idempotency.Result[Customer]{}, fmt.Errorf("register customer: %w", err)
	}
	want := request{Email: n.Email, Name: n.Name, Phone: n.Phone, Notify: n.Preferences()}
	res, err := idempotency.Create(ctx, s.db, keyTable, "register-customer", key, want, func(tx pgx.Tx) (Customer, idempotency.Outcome, error) {
		return insert(ctx, tx, want, n.Password, hash)
	})
	if err != nil {
		return res, fmt.Errorf("register customer: %w", err)
	}
	return res, nil
}

// insertAttempts bounds how often insert looks for the holder of an e-mail address that a
// concurrent update moved away between the conflict and the look-up.
const insertAttempts = 3

func insert(ctx context.Context, tx pgx.Tx, r request, password, passwordHash string) (Customer, idempotency.Outcome, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Customer{}, 0, fmt.Errorf("new id: %w", err)
	}
	for range insertAttempts {
		c, err := scan(tx.QueryRow(ctx, `INSERT INTO customers.customers (id, email, name, phone, notify_email, notify_sms)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6) ON CONFLICT ((lower(email))) DO NOTHING RETURNING `+columns,
			id, r.Email, r.Name, r.Phone, r.Notify.Email, r.Notify.SMS))
		if err == nil {
			if err := identity.InsertCredential(ctx, tx, c.ID, c.Email, passwordHash); err != nil {
				return Customer{}, 0, err
			}
			return c, idempotency.Created, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Customer{}, 0, err
		}
		existing, err := scan(tx.QueryRow(ctx, "SELECT "+columns+" FROM customers.customers WHERE lower(email) = lower($1)", r.Email))
		if errors.Is(err, pgx.ErrNoRows) {
			continue // the holder changed its address meanwhile: the address may be free now
		}
		if err != nil {
			return Customer{}, 0, err
		}
		if existing.Email != r.Email || existing.Name != r.Name || existing.Phone != r.Phone || existing.Notify != r.Notify {
			return Customer{}, 0, ErrEmailTaken
		}
		same, err := identity.PasswordMatches(ctx, tx, existing.ID, password)
		if err != nil {
			return Customer{}, 0, err
		}
		if !same {
			return Customer{}, 0, ErrEmailTaken
		}
		return existing, idempotency.Existing, nil
	}
	return Customer{}, 0, errors.New("e-mail address kept changing hands")
}

// Get returns a customer.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Customer, error) {
	c, err := scan(s.db.QueryRow(ctx, "SELECT "+columns+" FROM customers.customers WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, fmt.Errorf("get customer: %w", err)
	}
	return c, nil
}

// Update applies a patch. expected, when not nil, is the version the client last saw (from
// If-Match or the body); a different current version is ErrStale. An e-mail address another
// customer has, ignoring case, is ErrEmailTaken; a result with SMS on and no phone number is
// a validation error naming the field the patch changed.
func (s *Store) Update(ctx context.Context, id uuid.UUID, p Patch, expected *int64) (Customer, error) {
	var notifyEmail, notifySMS *bool
	if p.Notify != nil {
		notifyEmail, notifySMS = p.Notify.Email, p.Notify.SMS
	}
	out, err := scan(s.db.QueryRow(ctx, `UPDATE customers.customers SET
			name = COALESCE($2, name),
			email = COALESCE($3, email),
			phone = CASE WHEN $4::text IS NULL THEN phone ELSE NULLIF($4, '') END,
			notify_email = COALESCE($5, notify_email),
			notify_sms = COALESCE($6, notify_sms),
			version = version + 1,
			updated_at = now()
		WHERE id = $1 AND ($7::bigint IS NULL OR version = $7)
		RETURNING `+columns,
		id, p.Name, p.Email, p.Phone, notifyEmail, notifySMS, expected))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Customer{}, s.whyNoRow(ctx, id)
	case pg.IsUniqueViolation(err, emailKey):
		return Customer{}, ErrEmailTaken
	case pg.IsCheckViolation(err, smsCheck) && p.clearsPhone():
		return Customer{}, errPhoneNeededForSMS
	case pg.IsCheckViolation(err, smsCheck):
		return Customer{}, errSMSNeedsPhone
	case err != nil:
		return Customer{}, fmt.Errorf("update customer: %w", err)
	}
	return out, nil
}

// whyNoRow tells a missing customer from a stale version after a guarded UPDATE matched nothing.
func (s *Store) whyNoRow(ctx context.Context, id uuid.UUID) error {
	var exists bool
	if err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM customers.customers WHERE id = $1)", id).Scan(&exists); err != nil {
		return fmt.Errorf("update customer: %w", err)
	}
	if !exists {
		return ErrNotFound
	}
	return ErrStale
}
