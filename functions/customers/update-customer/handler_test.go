package function

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/customers"
	"github.com/faas-commerce/faas-commerce/shared/customers/customerstest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func TestUpdateCustomer(t *testing.T) {
	db := pgtest.New(t)
	store := customers.NewStore(db.Pool)
	app := newApp(store)
	c := customerstest.Create(t, db.Pool, 1, nil)[0]
	path := "/" + c.ID.String()

	var got customers.Customer
	resp := fntest.CallAs(t, fntest.Admin, app, http.MethodPatch, path, map[string]any{"name": "  Ada King ", "email": " Ada@Example.org "}, "If-Match", `"1"`).Expect(t, http.StatusOK)
	resp.Decode(t, &got)
	if got.Name != "Ada King" || got.Email != "Ada@Example.org" || got.Version != 2 || got.Phone != "" || got.Notify != c.Notify || got.ID != c.ID || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("updated to %+v", got)
	}
	if resp.Header.Get("ETag") != `"2"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}

	steps := []struct {
		name  string
		patch map[string]any
		check func(customers.Customer) bool
	}{
		{"phone and SMS together, version in the body", map[string]any{"phone": "+4930123456", "notify": map[string]any{"sms": true}},
			func(c customers.Customer) bool {
				return c.Phone == "+4930123456" && c.Notify == customers.Notify{Email: true, SMS: true}
			}},
		{"one notification setting keeps the other", map[string]any{"notify": map[string]any{"email": false}},
			func(c customers.Customer) bool { return c.Notify == customers.Notify{Email: false, SMS: true} }},
		{"only the case of the own e-mail", map[string]any{"email": "ada@example.org"},
			func(c customers.Customer) bool { return c.Email == "ada@example.org" }},
		{"removing the phone with SMS turned off in the same patch", map[string]any{"phone": "", "notify": map[string]any{"sms": false}},
			func(c customers.Customer) bool { return c.Phone == "" && !c.Notify.SMS }},
	}
	for _, s := range steps {
		version := got.Version
		s.patch["version"] = version
		fntest.CallAs(t, fntest.Admin, app, http.MethodPatch, path, s.patch).Expect(t, http.StatusOK).Decode(t, &got)
		if !s.check(got) || got.Version != version+1 {
			t.Fatalf("%s: updated to %+v", s.name, got)
		}
	}

	stored, err := store.Get(t.Context(), c.ID)
	if err != nil || stored != got {
		t.Fatalf("stored %+v, %v; answered %+v", stored, err, got)
	}
}

func TestUpdateCustomerConflictsAndBadInput(t *testing.T) {
	db := pgtest.New(t)
	store := customers.NewStore(db.Pool)
	app := newApp(store)
	all := customerstest.Create(t, db.Pool, 3, func(i int, n *customers.NewCustomer) {
		if i == 2 {
			n.Phone = "+4930123456"
			n.Notify = &customers.NotifyChoice{SMS: new(true)}
		}
	})
	c, other, texter := all[0], all[1], all[2]
	path := "/" + c.ID.String()
	rename := map[string]any{"name": "New name"}
	v1 := []string{"If-Match", `"1"`}

	cases := []struct {
		name   string
		path   string
		body   any
		header []string
		status int
		code   string
		fields []string
	}{
		{"stale If-Match", path, rename, []string{"If-Match", `"7"`}, 412, "precondition_failed", nil},
		{"stale body version", path, map[string]any{"name": "x", "version": 9}, nil, 409, "version_mismatch", nil},
		{"no version at all", path, rename, nil, 428, "precondition_required", nil},
		{"If-Match and version disagree", path, map[string]any{"name": "x", "version": 2}, v1, 422, "versions_disagree", []string{"version"}},
		{"weak or malformed If-Match", path, rename, []string{"If-Match", `W/"1"`}, 400, "invalid_if_match", nil},
		{"version zero", path, map[string]any{"name": "x", "version": 0}, nil, 422, "validation_failed", []string{"version"}},
		{"e-mail of another customer, other case", path, map[string]any{"email": strings.ToUpper(other.Email)}, v1, 409, "email_taken", nil},
		{"SMS without a phone", path, map[string]any{"notify": map[string]any{"sms": true}}, v1, 422, "validation_failed", []string{"notify.sms"}},
		{"SMS on and phone removed in one patch", "/" + texter.ID.String(), map[string]any{"phone": "", "notify": map[string]any{"sms": true}}, v1, 422, "validation_failed", []string{"notify.sms"}},
		{"phone removed while SMS is on", "/" + texter.ID.String(), map[string]any{"phone": " "}, v1, 422, "validation_failed", []string{"phone"}},
		{"empty patch", path, map[string]any{}, v1, 422, "nothing_to_change", nil},
		{"empty notify", path, map[string]any{"notify": map[string]any{}}, v1, 422, "nothing_to_change", nil},
		{"only a version", path, map[string]any{"version": 1}, nil, 422, "nothing_to_change", nil},
		{"empty name", path, map[string]any{"name": " "}, v1, 422, "validation_failed", []string{"name"}},
		{"long name", path, map[string]any{"name": strings.Repeat("n", 201)}, v1, 422, "validation_failed", []string{"name"}},
		{"empty e-mail", path, map[string]any{"email": ""}, v1, 422, "validation_failed", []string{"email"}},
		{"bad e-mail", path, map[string]any{"email": "ada@"}, v1, 422, "validation_failed", []string{"email"}},
		{"e-mail with a display name", path, map[string]any{"email": "Ada <ada@example.com>"}, v1, 422, "validation_failed", []string{"email"}},
		{"bad phone", path, map[string]any{"phone": "030 123456"}, v1, 422, "validation_failed", []string{"phone"}},
		{"everything wrong", path, map[string]any{"name": "", "email": "x", "phone": "1", "version": -1}, nil, 422, "validation_failed", []string{"name", "email", "phone", "version"}},
		{"id is not updatable", path, map[string]any{"id": uuid.NewString()}, v1, 400, "unknown_field", []string{"id"}},
		{"wrong type", path, fntest.Raw(`{"notify":{"sms":"yes"}}`), v1, 400, "wrong_type", []string{"notify.sms"}},
		{"phone not a string", path, fntest.Raw(`{"phone":5}`), v1, 400, "wrong_type", []string{"phone"}},
		{"malformed JSON", path, fntest.Raw(`{"name":`), v1, 400, "malformed_json", nil},
		{"empty body", path, fntest.Raw(``), v1, 400, "empty_body", nil},
		{"oversize body", path, fntest.Raw(`{"name":"` + strings.Repeat("x", 1<<20) + `"}`), v1, 413, "body_too_large", nil},
		{"unknown customer", "/" + uuid.NewString(), rename, v1, 404, "customer_not_found", nil},
		{"bad id", "/123", rename, v1, 400, "invalid_parameter", []string{"id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fntest.CallAs(t, fntest.Admin, app, http.MethodPatch, tc.path, tc.body, tc.header...).ExpectError(t, tc.status, tc.code, tc.fields...)
		})
	}
	for _, want := range all {
		stored, err := store.Get(t.Context(), want.ID)
		if err != nil || stored != want {
			t.Fatalf("rejected updates changed a customer: %+v (was %+v), %v", stored, want, err)
		}
	}
	if n := customerstest.Count(t, db.Pool); n != len(all) {
		t.Fatalf("%d customers, want %d", n, len(all))
	}
}
