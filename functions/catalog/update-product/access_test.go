package function

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/catalog"
	"github.com/faas-commerce/faas-commerce/shared/catalog/catalogtest"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
	"github.com/faas-commerce/faas-commerce/shared/pg/pgtest"
)

// TestOnlyAdmins: no caller is 401, a customer is 403, and the product is unchanged.
func TestOnlyAdmins(t *testing.T) {
	db := pgtest.New(t)
	store := catalog.NewStore(db.Pool)
	app := newApp(store)
	p := catalogtest.Create(t, db.Pool, 1, nil)[0]
	body := map[string]any{"name": "Changed"}
	fntest.Call(t, app, http.MethodPatch, "/"+p.ID.String(), body, "If-Match", `"1"`).ExpectError(t, http.StatusUnauthorized, "unauthenticated")
	fntest.CallAs(t, fntest.Customer(uuid.New()), app, http.MethodPatch, "/"+p.ID.String(), body, "If-Match", `"1"`).ExpectError(t, http.StatusForbidden, "forbidden")
	got, err := store.Get(t.Context(), p.ID)
	if err != nil || got != p {
		t.Fatalf("refused callers changed the product: %+v, %v", got, err)
	}
}
