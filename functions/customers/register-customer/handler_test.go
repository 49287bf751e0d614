package function

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/customers/customerstest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/identity"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// password is a valid password for registrations in these tests.
const password = "correct horse battery"

func TestRegisterCustomer(t *testing.T) {
	db := pgtest.New(t)
	store := customers.NewStore(db.Pool)
	app := newApp(store)

	body := map[string]any{"email": "  Ada.Lovelace@Example.com ", "name": " Ada Lovelace ", "phone": " +447700900123 ", "notify": map[string]any{"email": false, "sms": true}, "password": password}
	resp := fntest.Call(t, app, http.MethodPost, "/", body).Expect(t, http.StatusCreated)
	var c customers.Customer
	resp.Decode(t, &c)
	want := customers.Notify{Email: false, SMS: true}
	if c.Email != "Ada.Lovelace@Example.com" || c.Name != "Ada Lovelace" || c.Phone != "+447700900123" || c.Notify != want || c.Version != 1 {
		t.Fatalf("registered %+v", c)
	}
	if c.ID.Version() != 7 {
		t.Errorf("id %s is not a UUIDv7", c.ID)
	}
	if c.CreatedAt.Location() != time.UTC || c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Errorf("times %v, %v", c.CreatedAt, c.UpdatedAt)
	}
	if got, want := resp.Header.Get("Location"), "/function/get-customer/"+c.ID.String(); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if resp.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}
	stored, err := store.Get(t.Context(), c.ID)
	if err != nil || stored != c {
		t.Fatalf("stored %+v, %v; answered %+v", stored, err, c)
	}

	t.Run("the password is stored only as an argon2id hash and signs the customer in", func(t *testing.T) {
		if bytes.Contains(resp.Body, []byte(password)) || bytes.Contains(resp.Body, []byte("password")) {
			t.Fatalf("the answer mentions the password: %s", resp.Body)
		}
		var hash string
		if err := db.Pool.QueryRow(t.Context(), "SELECT password_hash FROM identity.credentials WHERE customer_id = $1", c.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, password) {
			t.Fatalf("stored %q", hash)
		}
		got, err := identity.NewStore(db.Pool).SignIn(t.Context(), "ada.lovelace@example.com", password)
		if err != nil || got.ID != c.ID {
			t.Fatalf("sign-in after registering: %+v, %v", got, err)
		}
	})

	t.Run("defaults: e-mail notifications on, SMS off, no phone", func(t *testing.T) {
		var c customers.Customer
		fntest.Call(t, app, http.MethodPost, "/", map[string]any{"email": "grace@example.com", "name": "Grace", "password": password}).Expect(t, http.StatusCreated).Decode(t, &c)
		if c.Notify != (customers.Notify{Email: true}) || c.Phone != "" {
			t.Fatalf("defaults %+v", c)
		}
		fntest.Call(t, app, http.MethodPost, "/", map[string]any{"email": "linus@example.com", "name": "Linus", "notify": map[string]any{"sms": false}, "password": password}).Expect(t, http.StatusCreated).Decode(t, &c)
		if c.Notify != (customers.Notify{Email: true}) {
			t.Fatalf("partial notify %+v", c)
		}
	})
}

func TestRegisterCustomerRejectsBadInput(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(customers.NewStore(db.Pool))
	customerstest.Create(t, db.Pool, 1, nil)
	before := customerstest.Count(t, db.Pool)
	valid := `{"email":"ada@example.com","name":"Ada"}`
	cases := []struct {
		name   string
		body   string
		header []string
		status int
		code   string
		fields []string
	}{
		{"malformed JSON", `{"email":"ada@example.com",`, nil, 400, "malformed_json", nil},
		{"not JSON", `email=ada@example.com`, nil, 400, "malformed_json", nil},
		{"empty body", ``, nil, 400, "empty_body", nil},
		{"two objects", valid + valid, nil, 400, "malformed_json", nil},
		{"array body", `[1,2]`, nil, 400, "wrong_type", []string{"(body)"}},
		{"wrong type name", `{"email":"ada@example.com","name":5}`, nil, 400, "wrong_type", []string{"name"}},
		{"wrong type phone", `{"email":"ada@example.com","name":"Ada","phone":447700900123}`, nil, 400, "wrong_type", []string{"phone"}},
		{"wrong type notify", `{"email":"ada@example.com","name":"Ada","notify":true}`, nil, 400, "wrong_type", []string{"notify"}},
		{"wrong type notify.sms", `{"email":"ada@example.com","name":"Ada","notify":{"sms":"yes"}}`, nil, 400, "wrong_type", []string{"notify.sms"}},
		{"unknown field", `{"email":"ada@example.com","name":"Ada","roles":["admin"]}`, nil, 400, "unknown_field", []string{"roles"}},
		{"no password", `{"email":"ada@example.com","name":"Ada","password":null}`, nil, 422, "validation_failed", []string{"password"}},
		{"short password", `{"email":"ada@example.com","name":"Ada","password":"elevenchars"}`, nil, 422, "validation_failed", []string{"password"}},
		{"long password", `{"email":"ada@example.com","name":"Ada","password":"` + strings.Repeat("p", 129) + `"}`, nil, 422, "validation_failed", []string{"password"}},
		{"white space password", `{"email":"ada@example.com","name":"Ada","password":"` + strings.Repeat(" ", 20) + `"}`, nil, 422, "validation_failed", []string{"password"}},
		{"wrong type password", `{"email":"ada@example.com","name":"Ada","password":123456789012345}`, nil, 400, "wrong_type", []string{"password"}},
		// The detail names "push", not "notify.push": fn.Decode reports the leaf name only.
		{"unknown nested field", `{"email":"ada@example.com","name":"Ada","notify":{"push":true}}`, nil, 400, "unknown_field", nil},
		{"null body", `null`, nil, 422, "validation_failed", []string{"email", "name", "password"}},
		{"missing email", `{"name":"Ada"}`, nil, 422, "validation_failed", []string{"email"}},
		{"bad e-mail", `{"email":"ada.example.com","name":"Ada"}`, nil, 422, "validation_failed", []string{"email"}},
		{"e-mail with a display name", `{"email":"Ada <ada@example.com>","name":"Ada"}`, nil, 422, "validation_failed", []string{"email"}},
		{"e-mail in angle brackets", `{"email":"<ada@example.com>","name":"Ada"}`, nil, 422, "validation_failed", []string{"email"}},
		{"e-mail with a comment", `{"email":"ada@example.com (Ada)","name":"Ada"}`, nil, 422, "validation_failed", []string{"email"}},
		{"two e-mail addresses", `{"email":"ada@example.com, bob@example.com","name":"Ada"}`, nil, 422, "validation_failed", []string{"email"}},
		{"long e-mail", `{"email":"` + strings.Repeat("a", 243) + `@example.com","name":"Ada"}`, nil, 422, "validation_failed", []string{"email"}},
		{"empty name", `{"email":"ada@example.com","name":"   "}`, nil, 422, "validation_failed", []string{"name"}},
		{"long name", `{"email":"ada@example.com","name":"` + strings.Repeat("n", 201) + `"}`, nil, 422, "validation_failed", []string{"name"}},
		{"phone without plus", `{"email":"ada@example.com","name":"Ada","phone":"447700900123"}`, nil, 422, "validation_failed", []string{"phone"}},
		{"phone too short", `{"email":"ada@example.com","name":"Ada","phone":"+123456"}`, nil, 422, "validation_failed", []string{"phone"}},
		{"phone too long", `{"email":"ada@example.com","name":"Ada","phone":"+1234567890123456"}`, nil, 422, "validation_failed", []string{"phone"}},
		{"phone with spaces", `{"email":"ada@example.com","name":"Ada","phone":"+44 7700 900123"}`, nil, 422, "validation_failed", []string{"phone"}},
		{"phone starting with 0", `{"email":"ada@example.com","name":"Ada","phone":"+0447700900"}`, nil, 422, "validation_failed", []string{"phone"}},
		{"sms without phone", `{"email":"ada@example.com","name":"Ada","notify":{"sms":true}}`, nil, 422, "validation_failed", []string{"notify.sms"}},
		{"sms with empty phone", `{"email":"ada@example.com","name":"Ada","phone":" ","notify":{"sms":true}}`, nil, 422, "validation_failed", []string{"notify.sms"}},
		{"everything wrong", `{"email":"x","name":"","phone":"12","notify":{"sms":true}}`, nil, 422, "validation_failed", []string{"email", "name", "phone"}},
		{"form content type", valid, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", nil},
		{"oversize body", `{"email":"ada@example.com","name":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "body_too_large", nil},
		{"bad idempotency key", valid, []string{"Idempotency-Key", "k\x01"}, 400, "invalid_idempotency_key", nil},
		{"long idempotency key", valid, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_idempotency_key", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if strings.HasPrefix(body, `{"`) && !strings.Contains(body, `"password"`) {
				body = `{"password":"` + password + `",` + body[1:]
			}
			resp := fntest.Call(t, app, http.MethodPost, "/", fntest.Raw(body), c.header...)
			resp.ExpectError(t, c.status, c.code, c.fields...)
			if bytes.Contains(resp.Body, []byte(password)) || strings.Contains(body, "elevenchars") && bytes.Contains(resp.Body, []byte("elevenchars")) {
				t.Fatalf("the error echoes the password: %s", resp.Body)
			}
		})
	}
	if n := customerstest.Count(t, db.Pool); n != before {
		t.Fatalf("bad input changed the number of customers from %d to %d", before, n)
	}
	fntest.Call(t, app, http.MethodGet, "/", nil).ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestRegisterCustomerRetries(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(customers.NewStore(db.Pool))

	t.Run("same e-mail and fields without a key returns the customer", func(t *testing.T) {
		in := customerstest.New()
		in.Phone = "+4930123456"
		var first, again customers.Customer
		fntest.Call(t, app, http.MethodPost, "/", in).Expect(t, http.StatusCreated).Decode(t, &first)
		resp := fntest.Call(t, app, http.MethodPost, "/", in).Expect(t, http.StatusOK)
		resp.Decode(t, &again)
		if first != again {
			t.Fatalf("retry answered %+v, first %+v", again, first)
		}
		if resp.Header.Get("Location") != "/function/get-customer/"+first.ID.String() || resp.Header.Get("ETag") != `"1"` {
			t.Errorf("retry headers %v", resp.Header)
		}

		otherPassword := in
		otherPassword.Password = "somebody else's password"
		fntest.Call(t, app, http.MethodPost, "/", otherPassword).ExpectError(t, http.StatusConflict, "email_taken")

		changed := in
		changed.Name = "Someone else"
		fntest.Call(t, app, http.MethodPost, "/", changed).ExpectError(t, http.StatusConflict, "email_taken")
		upper := in
		upper.Email = strings.ToUpper(in.Email)
		fntest.Call(t, app, http.MethodPost, "/", upper).ExpectError(t, http.StatusConflict, "email_taken")
		upper.Name = "Someone else"
		fntest.Call(t, app, http.MethodPost, "/", upper).ExpectError(t, http.StatusConflict, "email_taken")
	})

	t.Run("idempotency key replays the first result", func(t *testing.T) {
		in := customerstest.New()
		var first, again customers.Customer
		fntest.Call(t, app, http.MethodPost, "/", in, "Idempotency-Key", "key-1").Expect(t, http.StatusCreated).Decode(t, &first)
		resp := fntest.Call(t, app, http.MethodPost, "/", in, "Idempotency-Key", "key-1").Expect(t, http.StatusCreated)
		resp.Decode(t, &again)
		if first != again || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %+v (replayed %q), first %+v", again, resp.Header.Get("Idempotent-Replayed"), first)
		}
		// Spelling out the defaults asks for the same customer.
		explicit := map[string]any{"email": in.Email, "name": in.Name, "notify": map[string]any{"email": true, "sms": false}, "password": in.Password}
		fntest.Call(t, app, http.MethodPost, "/", explicit, "Idempotency-Key", "key-1").Expect(t, http.StatusCreated).Decode(t, &again)
		if first != again {
			t.Fatalf("replay with explicit defaults %+v, first %+v", again, first)
		}
		// The password is not part of the request a key names (it never meets a fast hash): the
		// same key with another password replays the first answer and changes nothing.
		otherPassword := in
		otherPassword.Password = "another password entirely"
		fntest.Call(t, app, http.MethodPost, "/", otherPassword, "Idempotency-Key", "key-1").Expect(t, http.StatusCreated).Decode(t, &again)
		if first != again {
			t.Fatalf("replay with another password %+v, first %+v", again, first)
		}
		if _, err := identity.NewStore(db.Pool).SignIn(t.Context(), in.Email, in.Password); err != nil {
			t.Fatalf("the first password no longer signs in: %v", err)
		}
		var leaked bool
		if err := db.Pool.QueryRow(t.Context(), "SELECT bool_or(position($1::bytea IN body) > 0) FROM customers.idempotency_keys", []byte(in.Password)).Scan(&leaked); err != nil || leaked {
			t.Fatalf("a stored answer holds the password (%v)", err)
		}
		other := customerstest.New()
		fntest.Call(t, app, http.MethodPost, "/", other, "Idempotency-Key", "key-1").ExpectError(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
	})

	t.Run("a failed request does not use up its key", func(t *testing.T) {
		taken := customerstest.Create(t, db.Pool, 1, nil)[0]
		in := customerstest.New()
		in.Email = taken.Email
		fntest.Call(t, app, http.MethodPost, "/", in, "Idempotency-Key", "key-2").ExpectError(t, http.StatusConflict, "email_taken")
		in = customerstest.New()
		fntest.Call(t, app, http.MethodPost, "/", in, "Idempotency-Key", "key-2").Expect(t, http.StatusCreated)
	})

	for _, key := range []string{"key-concurrent", ""} {
		name := "concurrent requests with one key create one customer"
		if key == "" {
			name = "concurrent requests without a key create one customer"
		}
		t.Run(name, func(t *testing.T) {
			before := customerstest.Count(t, db.Pool)
			in := customerstest.New()
			ids := make(chan string, 16)
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					var headers []string
					if key != "" {
						headers = []string{"Idempotency-Key", key}
					}
					resp := fntest.Call(t, app, http.MethodPost, "/", in, headers...)
					var c customers.Customer
					if resp.Status == http.StatusCreated || (key == "" && resp.Status == http.StatusOK) {
						resp.Decode(t, &c)
						ids <- c.ID.String()
					} else {
						t.Errorf("status %d: %s", resp.Status, resp.Body)
					}
				})
			}
			wg.Wait()
			close(ids)
			seen := map[string]bool{}
			for id := range ids {
				seen[id] = true
			}
			if len(seen) != 1 || customerstest.Count(t, db.Pool) != before+1 {
				t.Fatalf("16 concurrent retries made %d distinct customers (%d rows added)", len(seen), customerstest.Count(t, db.Pool)-before)
			}
		})
	}
}
