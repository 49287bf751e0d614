package function

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/page"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// walk follows next_cursor from query until the last page and returns every id, failing on a
// page larger than limit.
func walk(t *testing.T, app fntest.Handler, query url.Values, limit int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		var p page.Page[catalog.Product]
		fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/?"+query.Encode(), nil).Expect(t, http.StatusOK).Decode(t, &p)
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		for _, it := range p.Items {
			ids = append(ids, it.ID)
		}
		if p.NextCursor == "" {
			return ids
		}
		query.Set("cursor", p.NextCursor)
	}
}

func TestListProductsPages(t *testing.T) {
	db := pgtest.New(t)
	store := catalog.NewStore(db.Pool)
	app := newApp(store)
	made := catalogtest.Create(t, db.Pool, 23, func(i int, p *catalog.NewProduct) {
		if i%3 == 0 {
			p.Name = fmt.Sprintf("Coffee mug %d", i)
		}
		if i%4 == 0 {
			off := false
			p.Active = &off
		}
	})
	if err := store.Delete(t.Context(), made[22].ID, nil); err != nil {
		t.Fatal(err)
	}

	ids := walk(t, app, url.Values{"limit": {"5"}}, 5)
	if len(ids) != 22 {
		t.Fatalf("walked %d products, want the 22 live ones", len(ids))
	}
	for i, id := range ids {
		if id != made[i].ID {
			t.Fatalf("item %d is %s, want %s (creation order, no gaps or repeats)", i, id, made[i].ID)
		}
	}

	var mugs, inactive int
	for i := range 22 {
		if i%3 == 0 {
			mugs++
		}
		if i%4 == 0 {
			inactive++
		}
	}
	if got := len(walk(t, app, url.Values{"q": {"MUG"}, "limit": {"2"}}, 2)); got != mugs {
		t.Errorf("search for MUG found %d, want %d", got, mugs)
	}
	if got := len(walk(t, app, url.Values{"active": {"false"}}, page.DefaultLimit)); got != inactive {
		t.Errorf("active=false found %d, want %d", got, inactive)
	}
	if got := len(walk(t, app, url.Values{"q": {"%"}}, page.DefaultLimit)); got != 0 {
		t.Errorf("a %% in the search matched %d products; it must be taken literally", got)
	}

	var big page.Page[catalog.Product]
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/?limit=1000", nil).Expect(t, http.StatusOK).Decode(t, &big)
	if len(big.Items) != 22 || big.NextCursor != "" {
		t.Errorf("limit=1000 gave %d items, cursor %q", len(big.Items), big.NextCursor)
	}
}

func TestListProductsCapsPageSize(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))
	catalogtest.Create(t, db.Pool, page.MaxLimit+5, nil)
	var p page.Page[catalog.Product]
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/?limit=500", nil).Expect(t, http.StatusOK).Decode(t, &p)
	if len(p.Items) != page.MaxLimit || p.NextCursor == "" {
		t.Fatalf("limit=500 gave %d items (cap %d), cursor %q", len(p.Items), page.MaxLimit, p.NextCursor)
	}
}

func TestListProductsBadQuery(t *testing.T) {
	db := pgtest.New(t)
	app := newApp(catalog.NewStore(db.Pool))
	cases := []struct {
		query, field string
	}{
		{"limit=0", "limit"},
		{"limit=ten", "limit"},
		{"cursor=!!", "cursor"},
		{"cursor=" + url.QueryEscape("c2hvcnQ"), "cursor"},
		{"active=maybe", "active"},
	}
	for _, c := range cases {
		resp := fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/?"+c.query, nil)
		if resp.Status/100 != 4 {
			t.Errorf("%s: status %d", c.query, resp.Status)
			continue
		}
		e := resp.Error(t)
		if len(e.Details) != 1 || e.Details[0].Field != c.field {
			t.Errorf("%s: details %+v, want field %s", c.query, e.Details, c.field)
		}
	}
	long := make([]byte, catalog.MaxSearchLength+1)
	for i := range long {
		long[i] = 'a'
	}
	fntest.CallAs(t, fntest.Admin, app, http.MethodGet, "/?q="+string(long), nil).ExpectError(t, http.StatusUnprocessableEntity, "validation_failed", "q")
}
