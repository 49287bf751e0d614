package function

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/money"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func TestUpdateProduct(t *testing.T) {
	db := pgtest.New(t)
	store := catalog.NewStore(db.Pool)
	app := newApp(store)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0]
	path := "/" + p.ID.String()

	var got catalog.Product
	resp := fntest.CallAs(t, fntest.Admin, app, http.MethodPatch, path, map[string]any{"name": "  Blue mug ", "price": map[string]any{"amount": 2500, "currency": "USD"}}, "If-Match", `"1"`).Expect(t, http.StatusOK)
	resp.Decode(t, &got)
	if got.Name != "Blue mug" || got.Price != (money.Money{Amount: 2500, Currency: "USD"}) || got.Version != 2 || got.Description != p.Description || got.SKU != p.SKU {
		t.Fatalf("updated to %+v", got)
	}
	if resp.Header.Get("ETag") != `"2"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}

	// The version can come in the body instead of If-Match.
	fntest.CallAs(t, fntest.Admin, app, http.MethodPatch, path, map[string]any{"active": false, "version": 2}).Expect(t, http.StatusOK).Decode(t, &got)
	if got.Active || got.Version != 3 {
		t.Fatalf("deactivated to %+v", got)
	}

	stored, err := store.Get(t.Context(), p.ID)
	if err != nil || stored.Name != "Blue mug" || stored.Active || stored.Version != 3 {
		t.Fatalf("stored %+v, %v", stored, err)
	}
}

func TestUpdateProductConflictsAndBadInput(t *testing.T) {
	db := pgtest.New(t)
	store := catalog.NewStore(db.Pool)
	app := newApp(store)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0]
	path := "/" + p.ID.String()
	rename := map[string]any{"name": "New name"}

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
		{"If-Match and version disagree", path, map[string]any{"name": "x", "version": 2}, []string{"If-Match", `"1"`}, 422, "versions_disagree", []string{"version"}},
		{"weak or malformed If-Match", path, rename, []string{"If-Match", `W/"1"`}, 400, "invalid_if_match", nil},
		{"empty patch", path, map[string]any{}, []string{"If-Match", `"1"`}, 422, "nothing_to_change", nil},
		{"empty name", path, map[string]any{"name": " "}, []string{"If-Match", `"1"`}, 422, "validation_failed", []string{"name"}},
		{"negative price", path, map[string]any{"price": map[string]any{"amount": -3, "currency": "EUR"}}, []string{"If-Match", `"1"`}, 422, "validation_failed", []string{"price.amount"}},
		{"bad currency", path, map[string]any{"price": map[string]any{"amount": 3, "currency": "E"}}, []string{"If-Match", `"1"`}, 422, "validation_failed", []string{"price.currency"}},
		{"sku is not updatable", path, map[string]any{"sku": "OTHER"}, []string{"If-Match", `"1"`}, 400, "unknown_field", []string{"sku"}},
		{"wrong type", path, fntest.Raw(`{"active":"yes"}`), []string{"If-Match", `"1"`}, 400, "wrong_type", []string{"active"}},
		{"malformed JSON", path, fntest.Raw(`{"name":`), []string{"If-Match", `"1"`}, 400, "malformed_json", nil},
		{"unknown product", "/" + uuid.NewString(), rename, []string{"If-Match", `"1"`}, 404, "product_not_found", nil},
		{"bad id", "/123", rename, []string{"If-Match", `"1"`}, 400, "invalid_parameter", []string{"id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallAs(t, fntest.Admin, app, http.MethodPatch, c.path, c.body, c.header...).ExpectError(t, c.status, c.code, c.fields...)
		})
	}
	stored, err := store.Get(t.Context(), p.ID)
	if err != nil || stored != p {
		t.Fatalf("rejected updates changed the product: %+v (was %+v), %v", stored, p, err)
	}
}
