package identity

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// addCustomer stores a customer row and its credential, as register-customer does.
func addCustomer(t *testing.T, db *pgxpool.Pool, email, password string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	hash, err := HashSecret(password)
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(t.Context(), db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "INSERT INTO customers.customers (id, email, name) VALUES ($1, $2, 'C')", id, email); err != nil {
			return err
		}
		return InsertCredential(t.Context(), tx, id, email, hash)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// recordingCompare counts comparisons and remembers the parameters of each hash compared.
type recordingCompare struct {
	mu     sync.Mutex
	params []argon2id.Params
}

func (r *recordingCompare) compare(secret, hash string) (bool, error) {
	p, _, _, err := argon2id.DecodeHash(hash)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	r.params = append(r.params, *p)
	r.mu.Unlock()
	return compareSecret(secret, hash)
}

func TestSignIn(t *testing.T) {
	db := pgtest.New(t)
	s := NewStore(db.Pool)
	rec := &recordingCompare{}
	s.compare = rec.compare
	id := addCustomer(t, db.Pool, "Ada@Example.com", "correct horse battery")

	c, err := s.SignIn(t.Context(), "ada@example.COM", "correct horse battery")
	if err != nil || c.ID != id {
		t.Fatalf("sign-in: %+v, %v", c, err)
	}
	rec.params = nil
	_, wrong := s.SignIn(t.Context(), "ada@example.com", "correct horse battery!")
	_, unknown := s.SignIn(t.Context(), "bob@example.com", "correct horse battery")
	if !errors.Is(wrong, ErrInvalidCredentials) || !errors.Is(unknown, ErrInvalidCredentials) || wrong.Error() != unknown.Error() {
		t.Fatalf("wrong password %v, unknown e-mail %v: want the same ErrInvalidCredentials", wrong, unknown)
	}
	// The same hash work on both paths: one argon2id comparison each, with the same parameters.
	if len(rec.params) != 2 || rec.params[0] != rec.params[1] || rec.params[0] != Params {
		t.Fatalf("hash work per path %+v, want one comparison each with %+v", rec.params, Params)
	}

	t.Run("the credential follows an e-mail change", func(t *testing.T) {
		if _, err := db.Pool.Exec(t.Context(), "UPDATE customers.customers SET email = 'ada.l@example.com' WHERE id = $1", id); err != nil {
			t.Fatal(err)
		}
		if c, err := s.SignIn(t.Context(), "ada.l@example.com", "correct horse battery"); err != nil || c.ID != id {
			t.Fatalf("sign-in with the new address: %+v, %v", c, err)
		}
		if _, err := s.SignIn(t.Context(), "ada@example.com", "correct horse battery"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("sign-in with the old address: %v", err)
		}
	})
}

// BenchmarkSignIn compares the time of a wrong password with an unknown e-mail; the two should
// be within noise of each other (run: go test -bench SignIn ./identity/).
func BenchmarkSignIn(b *testing.B) {
	db := pgtest.New(b)
	s := NewStore(db.Pool)
	id := uuid.Must(uuid.NewV7())
	hash, _ := HashSecret("correct horse battery")
	if _, err := db.Pool.Exec(b.Context(), "INSERT INTO customers.customers (id, email, name) VALUES ($1, 'ada@example.com', 'A')", id); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(b.Context(), "INSERT INTO identity.credentials (customer_id, email, password_hash) VALUES ($1, 'ada@example.com', $2)", id, hash); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, email string }{{"wrong password", "ada@example.com"}, {"unknown e-mail", "bob@example.com"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.SignIn(b.Context(), c.email, "not the password"); !errors.Is(err, ErrInvalidCredentials) {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestClients(t *testing.T) {
	db := pgtest.New(t)
	s := NewStore(db.Pool)
	rec := &recordingCompare{}
	s.compare = rec.compare
	secret, err := s.CreateClient(t.Context(), Client{ID: "connector", Name: "RabbitMQ connector", Roles: []string{"service"}})
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := db.Pool.QueryRow(t.Context(), "SELECT secret_hash FROM identity.clients").Scan(&stored); err != nil || !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, secret) {
		t.Fatalf("stored %q, %v: want an argon2id hash", stored, err)
	}
	c, err := s.AuthenticateClient(t.Context(), "connector", secret)
	if err != nil || c.ID != "connector" || len(c.Roles) != 1 || c.Roles[0] != "service" {
		t.Fatalf("authenticate: %+v, %v", c, err)
	}
	rec.params = nil
	_, wrong := s.AuthenticateClient(t.Context(), "connector", secret+"x")
	_, unknown := s.AuthenticateClient(t.Context(), "nobody", secret)
	if !errors.Is(wrong, ErrInvalidClient) || !errors.Is(unknown, ErrInvalidClient) || len(rec.params) != 2 || rec.params[0] != rec.params[1] {
		t.Fatalf("wrong secret %v, unknown client %v, hash work %+v", wrong, unknown, rec.params)
	}
	if _, err := s.CreateClient(t.Context(), Client{ID: "connector", Name: "again", Roles: []string{"service"}}); !errors.Is(err, ErrClientExists) {
		t.Fatalf("duplicate client: %v", err)
	}
	s.compare = compareSecret
	newSecret, err := s.PutClient(t.Context(), Client{ID: "connector", Name: "again", Roles: []string{"admin"}})
	if err != nil || newSecret == secret {
		t.Fatalf("replace client: %v", err)
	}
	if _, err := s.AuthenticateClient(t.Context(), "connector", secret); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("the replaced secret still works: %v", err)
	}
	if c, err := s.AuthenticateClient(t.Context(), "connector", newSecret); err != nil || c.Roles[0] != "admin" || c.Name != "again" {
		t.Fatalf("replaced client %+v, %v", c, err)
	}
	for _, bad := range []Client{{ID: "", Name: "x", Roles: []string{"admin"}}, {ID: "../x", Name: "x", Roles: []string{"admin"}}, {ID: "c", Name: "x", Roles: []string{"customer"}}, {ID: "c", Name: "x"}, {ID: "c", Name: " ", Roles: []string{"admin"}}} {
		if _, err := s.CreateClient(t.Context(), bad); fault.KindOf(err) != fault.Invalid {
			t.Errorf("client %+v: %v, want a validation error", bad, err)
		}
	}
}

func TestLimiterHoldsUnderBursts(t *testing.T) {
	db := pgtest.New(t)
	l := NewLimiter(db.Pool)
	lim := Limit{Max: 5, Window: time.Hour}
	var limited atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := l.Reserve(t.Context(), EmailKey("Ada@example.com", lim), IPKey("192.0.2.1", Limit{Max: 100, Window: time.Hour}))
			var rl *RateLimited
			switch {
			case errors.As(err, &rl) && errors.Is(err, ErrRateLimited) && rl.RetryAfter > 59*time.Minute && rl.RetryAfter <= time.Hour:
				limited.Add(1)
			case err != nil:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if limited.Load() != 15 {
		t.Fatalf("%d of 20 concurrent attempts limited, want 15", limited.Load())
	}
	if err := l.Reserve(t.Context(), EmailKey("ada@EXAMPLE.com", lim)); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("the address in another case: %v", err)
	}
	if err := l.Reserve(t.Context(), EmailKey("bob@example.com", lim)); err != nil {
		t.Fatalf("another address: %v", err)
	}
	var stored int
	if err := db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM identity.failed_attempts WHERE key LIKE '%example.com%'").Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("%d counters name an address (%v)", stored, err)
	}

	t.Run("a success releases its attempt and clears the e-mail counter", func(t *testing.T) {
		k := EmailKey("grace@example.com", Limit{Max: 2, Window: time.Hour})
		ip := IPKey("192.0.2.2", Limit{Max: 2, Window: time.Hour})
		for range 10 {
			if err := l.Reserve(t.Context(), k, ip); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(t.Context(), []Key{k, ip}, k); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("a window that ended starts again", func(t *testing.T) {
		k := IPKey("192.0.2.3", Limit{Max: 1, Window: time.Hour})
		_ = l.Reserve(t.Context(), k)
		if err := l.Reserve(t.Context(), k); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("second attempt: %v", err)
		}
		if _, err := db.Pool.Exec(t.Context(), "UPDATE identity.failed_attempts SET window_start = now() - interval '2 hours' WHERE key = $1", k.Name); err != nil {
			t.Fatal(err)
		}
		if err := l.Reserve(t.Context(), k); err != nil {
			t.Fatalf("after the window: %v", err)
		}
		if err := l.Prune(t.Context(), 0); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCheckPassword(t *testing.T) {
	for _, c := range []struct {
		pw string
		ok bool
	}{
		{"correct horse", true}, {"  spaces ok  ", true}, {strings.Repeat("é", 128), true},
		{"", false}, {"short", false}, {strings.Repeat(" ", 20), false}, {strings.Repeat("x", 129), false}, {"abc\xffdefghijkl", false},
	} {
		var v fault.Validator
		CheckPassword(&v, "password", c.pw)
		if (v.Err() == nil) != c.ok {
			t.Errorf("%q: %v, want ok=%v", c.pw, v.Err(), c.ok)
		}
	}
}
