package function

import (
	"net/http"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/page"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// TestPublicListsActiveProductsOnly: without an admin token, inactive products never show,
// whatever the query asks.
func TestPublicListsActiveProductsOnly(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))
	catalogtest.Create(t, db.Pool, 6, func(i int, p *catalog.NewProduct) {
		active := i%2 == 0
		p.Active = &active
	})
	for _, q := range []string{"/", "/?active=false", "/?active=true"} {
		var got page.Page[catalog.Product]
		fntest.Call(t, app, http.MethodGet, q, nil).Expect(t, http.StatusOK).Decode(t, &got)
		if len(got.Items) != 3 {
			t.Errorf("public %s listed %d products, want the 3 active", q, len(got.Items))
		}
		for _, p := range got.Items {
			if !p.Active {
				t.Errorf("public %s listed inactive %s", q, p.SKU)
			}
		}
	}
	var all page.Page[catalog.Product]
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/", nil).Expect(t, http.StatusOK).Decode(t, &all)
	if len(all.Items) != 6 {
		t.Errorf("admin listed %d, want 6", len(all.Items))
	}
}
