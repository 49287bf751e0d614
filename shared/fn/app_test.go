package fn_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/fn/fntest"
)

var errGone = fault.New(fault.NotFound, "thing_not_found", "no such thing")

type thing struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func testApp(opts ...fn.Option) *fn.App {
	return fn.New("test", opts...).
		Route("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) error {
			if r.PathValue("id") == "missing" {
				return errGone
			}
			fn.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "q": r.URL.Query().Get("q")})
			return nil
		}).
		Route("POST /things", func(w http.ResponseWriter, r *http.Request) error {
			var in thing
			if err := fn.Decode(r, &in); err != nil {
				return err
			}
			fn.JSON(w, http.StatusCreated, in)
			return nil
		}).
		Route("GET /boom", func(http.ResponseWriter, *http.Request) error { panic("boom") }).
		Route("GET /secret", func(http.ResponseWriter, *http.Request) error {
			return fault.ErrValidation.Wrap(errSecret) // a cause must never reach the client
		}).
		Route("GET /internal", func(http.ResponseWriter, *http.Request) error { return errSecret })
}

var errSecret = &secretErr{}

type secretErr struct{}

func (*secretErr) Error() string { return "password=hunter2 at db01" }

func TestRouting(t *testing.T) {
	app := testApp()
	var got map[string]string
	fntest.Call(t, app, http.MethodGet, "/things/42?q=x", nil).Expect(t, http.StatusOK).Decode(t, &got)
	if got["id"] != "42" || got["q"] != "x" {
		t.Fatalf("got %v", got)
	}
	fntest.Call(t, app, http.MethodGet, "/things/missing", nil).ExpectError(t, http.StatusNotFound, "thing_not_found")
	fntest.Call(t, app, http.MethodGet, "/nowhere", nil).ExpectError(t, http.StatusNotFound, "not_found")
	resp := fntest.Call(t, app, http.MethodDelete, "/things/42", nil)
	resp.ExpectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow %q", allow)
	}
}

func TestCallID(t *testing.T) {
	app := testApp()
	resp := fntest.Call(t, app, http.MethodGet, "/things/1", nil, fn.HeaderCallID, "call-123")
	if resp.Header.Get(fn.HeaderCallID) != "call-123" {
		t.Errorf("call id not echoed: %v", resp.Header)
	}
	a := fntest.Call(t, app, http.MethodGet, "/things/1", nil).Header.Get(fn.HeaderCallID)
	b := fntest.Call(t, app, http.MethodGet, "/things/1", nil).Header.Get(fn.HeaderCallID)
	if a == "" || a == b {
		t.Errorf("generated call ids %q and %q", a, b)
	}
}

func TestInternalErrorsHideDetails(t *testing.T) {
	app := testApp()
	for _, path := range []string{"/boom", "/internal"} {
		resp := fntest.Call(t, app, http.MethodGet, path, nil)
		resp.ExpectError(t, http.StatusInternalServerError, "internal")
		if strings.Contains(string(resp.Body), "hunter2") || strings.Contains(string(resp.Body), "boom") {
			t.Errorf("%s leaked internals: %s", path, resp.Body)
		}
	}
	resp := fntest.Call(t, app, http.MethodGet, "/secret", nil)
	resp.ExpectError(t, http.StatusUnprocessableEntity, "validation_failed")
	if strings.Contains(string(resp.Body), "hunter2") {
		t.Errorf("cause leaked: %s", resp.Body)
	}
}

func TestDecode(t *testing.T) {
	app := testApp(fn.WithBodyLimit(64))
	var got thing
	fntest.Call(t, app, http.MethodPost, "/things", fntest.Raw(`{"name":"a","count":2}`), "Content-Type", "application/json; charset=utf-8").
		Expect(t, http.StatusCreated).Decode(t, &got)
	if got != (thing{"a", 2}) {
		t.Fatalf("decoded %+v", got)
	}
	cases := []struct {
		name, body string
		header     []string
		status     int
		code       string
		fields     []string
	}{
		{"syntax", `{"name":}`, nil, 400, "malformed_json", nil},
		{"truncated", `{"name":"a"`, nil, 400, "malformed_json", nil},
		{"empty", ``, nil, 400, "empty_body", nil},
		{"trailing", `{"name":"a"} x`, nil, 400, "malformed_json", nil},
		{"two values", `{"name":"a"}{"name":"b"}`, nil, 400, "malformed_json", nil},
		{"wrong type", `{"count":"two"}`, nil, 400, "wrong_type", []string{"count"}},
		{"overflow", `{"count":1e40}`, nil, 400, "wrong_type", []string{"count"}},
		{"unknown", `{"nmae":"a"}`, nil, 400, "unknown_field", []string{"nmae"}},
		{"not an object", `"a"`, nil, 400, "wrong_type", []string{"(body)"}},
		{"too large", `{"name":"` + strings.Repeat("a", 100) + `"}`, nil, 413, "body_too_large", nil},
		{"text/plain", `{"name":"a"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", nil},
		{"garbage content type", `{"name":"a"}`, []string{"Content-Type", ";;"}, 415, "unsupported_media_type", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fntest.Call(t, app, http.MethodPost, "/things", fntest.Raw(c.body), c.header...).ExpectError(t, c.status, c.code, c.fields...)
		})
	}
	// application/problem+json and friends are JSON too.
	fntest.Call(t, app, http.MethodPost, "/things", fntest.Raw(`{"name":"b"}`), "Content-Type", "application/merge-patch+json").Expect(t, http.StatusCreated)
}

func TestMiddlewareWrapsRoutes(t *testing.T) {
	var seen []string
	mw := func(name string) fn.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, name)
				if r.Header.Get("X-Deny") != "" {
					fn.WriteError(w, r, fault.New(fault.Unauthenticated, "unauthenticated", "no token"))
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	app := testApp(fn.WithMiddleware(mw("outer"), mw("inner")))
	fntest.Call(t, app, http.MethodGet, "/things/1", nil).Expect(t, http.StatusOK)
	if strings.Join(seen, ",") != "outer,inner" {
		t.Fatalf("middleware ran as %v", seen)
	}
	fntest.Call(t, app, http.MethodGet, "/things/1", nil, "X-Deny", "1").ExpectError(t, http.StatusUnauthorized, "unauthenticated")
}
