package page

import (
	"net/url"
	"testing"

	"github.com/google/uuid"
)

func TestCursorRoundTrip(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	r, err := FromQuery(url.Values{"cursor": {Cursor(id)}, "limit": {"7"}})
	if err != nil || r.After == nil || *r.After != id || r.Limit != 7 {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestFromQuery(t *testing.T) {
	r, err := FromQuery(url.Values{})
	if err != nil || r.Limit != DefaultLimit || r.After != nil {
		t.Fatalf("defaults: %+v, %v", r, err)
	}
	r, err = FromQuery(url.Values{"limit": {"100000"}})
	if err != nil || r.Limit != MaxLimit {
		t.Fatalf("cap: %+v, %v", r, err)
	}
	for _, bad := range []url.Values{{"limit": {"0"}}, {"limit": {"-1"}}, {"limit": {"x"}}, {"cursor": {"%%"}}, {"cursor": {"AAAA"}}} {
		if _, err := FromQuery(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestBuild(t *testing.T) {
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	key := func(u uuid.UUID) uuid.UUID { return u }
	p := Build(ids, 2, key)
	if len(p.Items) != 2 || p.NextCursor != Cursor(ids[1]) {
		t.Fatalf("full page: %+v", p)
	}
	p = Build(ids[:2], 2, key)
	if len(p.Items) != 2 || p.NextCursor != "" {
		t.Fatalf("last page: %+v", p)
	}
	if p := Build[uuid.UUID](nil, 2, key); p.Items == nil {
		t.Fatal("empty page must encode as []")
	}
}
