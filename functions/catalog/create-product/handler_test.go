package function

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/inventory"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

func TestCreateProduct(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))

	in := catalogtest.New()
	resp := fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in).Expect(t, http.StatusCreated)
	var p catalog.Product
	resp.Decode(t, &p)
	if p.SKU != in.SKU || p.Name != in.Name || p.Price != *in.Price || !p.Active || p.Version != 1 {
		t.Fatalf("created %+v from %+v", p, in)
	}
	if got, want := resp.Header.Get("Location"), "/function/get-product/"+p.ID.String(); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if resp.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}
	stock, err := inventory.Get(context.Background(), db.Pool, p.ID)
	if err != nil || stock.OnHand != 0 {
		t.Fatalf("stock row of new product: %+v, %v", stock, err)
	}
}

func TestCreateProductRejectsBadInput(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))
	valid := `{"sku":"A-1","name":"Mug","price":{"amount":500,"currency":"EUR"}}`
	cases := []struct {
		name   string
		body   string
		header []string
		status int
		code   string
		fields []string
	}{
		{"malformed JSON", `{"sku":"A-1",`, nil, 400, "malformed_json", nil},
		{"not JSON", `sku=A-1`, nil, 400, "malformed_json", nil},
		{"empty body", ``, nil, 400, "empty_body", nil},
		{"two objects", valid + valid, nil, 400, "malformed_json", nil},
		{"wrong type", `{"sku":"A-1","name":"Mug","price":{"amount":"500","currency":"EUR"}}`, nil, 400, "wrong_type", []string{"price.amount"}},
		{"fractional amount", `{"sku":"A-1","name":"Mug","price":{"amount":5.5,"currency":"EUR"}}`, nil, 400, "wrong_type", []string{"price.amount"}},
		{"unknown field", `{"sku":"A-1","name":"Mug","price":{"amount":500,"currency":"EUR"},"stock":3}`, nil, 400, "unknown_field", []string{"stock"}},
		{"array body", `[1,2]`, nil, 400, "wrong_type", []string{"(body)"}},
		{"negative price", `{"sku":"A-1","name":"Mug","price":{"amount":-1,"currency":"EUR"}}`, nil, 422, "validation_failed", []string{"price.amount"}},
		{"bad currency", `{"sku":"A-1","name":"Mug","price":{"amount":1,"currency":"EURO"}}`, nil, 422, "validation_failed", []string{"price.currency"}},
		{"unknown currency", `{"sku":"A-1","name":"Mug","price":{"amount":1,"currency":"ABC"}}`, nil, 422, "validation_failed", []string{"price.currency"}},
		{"lower-case currency", `{"sku":"A-1","name":"Mug","price":{"amount":1,"currency":"eur"}}`, nil, 422, "validation_failed", []string{"price.currency"}},
		{"empty name", `{"sku":"A-1","name":"  ","price":{"amount":1,"currency":"EUR"}}`, nil, 422, "validation_failed", []string{"name"}},
		{"long name", `{"sku":"A-1","name":"` + strings.Repeat("n", 201) + `","price":{"amount":1,"currency":"EUR"}}`, nil, 422, "validation_failed", []string{"name"}},
		{"missing price", `{"sku":"A-1","name":"Mug"}`, nil, 422, "validation_failed", []string{"price"}},
		{"bad sku", `{"sku":"a b","name":"Mug","price":{"amount":1,"currency":"EUR"}}`, nil, 422, "validation_failed", []string{"sku"}},
		{"everything wrong", `{"sku":"","name":"","price":{"amount":-5,"currency":""}}`, nil, 422, "validation_failed", []string{"sku", "name", "price.amount", "price.currency"}},
		{"form content type", valid, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", nil},
		{"oversize body", `{"sku":"A-1","name":"Mug","description":"` + strings.Repeat("x", 1<<20) + `","price":{"amount":1,"currency":"EUR"}}`, nil, 413, "body_too_large", nil},
		{"bad idempotency key", valid, []string{"Idempotency-Key", "k\x01"}, 400, "invalid_idempotency_key", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", fntest.Raw(c.body), c.header...).ExpectError(t, c.status, c.code, c.fields...)
		})
	}
	if n := catalogtest.Count(t, db.Pool); n != 0 {
		t.Fatalf("bad input created %d products", n)
	}
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/", nil).ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestCreateProductRetries(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))

	t.Run("same SKU and fields without a key returns the product", func(t *testing.T) {
		in := catalogtest.New()
		var first, again catalog.Product
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in).Expect(t, http.StatusCreated).Decode(t, &first)
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in).Expect(t, http.StatusOK).Decode(t, &again)
		if first.ID != again.ID {
			t.Fatalf("retry made a second product: %s and %s", first.ID, again.ID)
		}
		changed := in
		changed.Name = "Something else"
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", changed).ExpectError(t, http.StatusConflict, "sku_taken")
	})

	t.Run("idempotency key replays the first result", func(t *testing.T) {
		in := catalogtest.New()
		var first, again catalog.Product
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in, "Idempotency-Key", "key-1").Expect(t, http.StatusCreated).Decode(t, &first)
		resp := fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in, "Idempotency-Key", "key-1").Expect(t, http.StatusCreated)
		resp.Decode(t, &again)
		if first != again || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %+v (replayed %q), first %+v", again, resp.Header.Get("Idempotent-Replayed"), first)
		}
		other := catalogtest.New()
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", other, "Idempotency-Key", "key-1").ExpectError(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
	})

	t.Run("a replay answers as the first answer did", func(t *testing.T) {
		in := catalogtest.New()
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in).Expect(t, http.StatusCreated)
		// The first keyed request matches the product by SKU: 200, and so is its replay.
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in, "Idempotency-Key", "key-existing").Expect(t, http.StatusOK)
		resp := fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in, "Idempotency-Key", "key-existing").Expect(t, http.StatusOK)
		if resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("second keyed request was not a replay")
		}
	})

	t.Run("defaults do not change the request under a key", func(t *testing.T) {
		in := catalogtest.New()
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in, "Idempotency-Key", "key-defaults").Expect(t, http.StatusCreated)
		on := true
		in.Active = &on
		fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in, "Idempotency-Key", "key-defaults").Expect(t, http.StatusCreated)
	})

	t.Run("concurrent requests with one key create one product", func(t *testing.T) {
		before := catalogtest.Count(t, db.Pool)
		in := catalogtest.New()
		ids := make(chan string, 16)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				resp := fntest.CallAs(t, fntest.Admin, app, http.MethodPost, "/", in, "Idempotency-Key", "key-concurrent")
				var p catalog.Product
				if resp.Status == http.StatusCreated {
					resp.Decode(t, &p)
					ids <- p.ID.String()
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
		if len(seen) != 1 || catalogtest.Count(t, db.Pool) != before+1 {
			t.Fatalf("16 concurrent retries made %d distinct products (%d rows added)", len(seen), catalogtest.Count(t, db.Pool)-before)
		}
	})
}
