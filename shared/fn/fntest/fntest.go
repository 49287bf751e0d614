// Package fntest calls a function's Handle the way the template's main does, for handler tests.
package fntest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	handler "github.com/openfaas/templates-sdk/go-http"

	"github.com/faas-commerce/faas-commerce/shared/auth"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/inbox"
)

// Handler is anything with the golang-http signature: an *fn.App or an *fn.Lazy.
type Handler interface {
	Handle(handler.Request) (handler.Response, error)
}

// Raw is a request body sent as it is, not encoded as JSON.
type Raw string

// Response is what the function answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Call sends method target (a path with an optional query) with body to h. body is nil for no
// body, Raw for bytes sent as they are, or any value encoded as JSON. headers are name, value
// pairs; Content-Type defaults to application/json when there is a body.
func Call(t testing.TB, h Handler, method, target string, body any, headers ...string) Response {
	t.Helper()
	return CallContext(t, context.Background(), h, method, target, body, headers...)
}

// Service is the principal the RabbitMQ connector calls queue-triggered functions as.
var Service = auth.Principal{Subject: "connector", ClientID: "connector", Roles: []auth.Role{auth.RoleService}}

// Admin is an operator's principal (an OAuth2 client with the admin role).
var Admin = auth.Principal{Subject: "operator", ClientID: "operator", Roles: []auth.Role{auth.RoleAdmin}}

// Customer is the principal of a signed-in customer.
func Customer(id fmt.Stringer) auth.Principal {
	return auth.Principal{Subject: id.String(), ClientID: "storefront", Roles: []auth.Role{auth.RoleCustomer}}
}

// CallAs is Call by an authenticated caller, as the token middleware would leave it.
func CallAs(t testing.TB, p auth.Principal, h Handler, method, target string, body any, headers ...string) Response {
	t.Helper()
	return CallContext(t, auth.WithPrincipal(context.Background(), p), h, method, target, body, headers...)
}

// CallContext is Call with a context.
func CallContext(t testing.TB, ctx context.Context, h Handler, method, target string, body any, headers ...string) Response {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("fntest: target %q: %v", target, err)
	}
	req := handler.Request{Method: method, QueryString: u.RawQuery, Header: http.Header{}, Host: "localhost"}
	switch b := body.(type) {
	case nil:
	case Raw:
		req.Body = []byte(b)
	default:
		if req.Body, err = json.Marshal(b); err != nil {
			t.Fatalf("fntest: encode body: %v", err)
		}
	}
	if len(req.Body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(headers)%2 != 0 {
		t.Fatalf("fntest: headers must be name, value pairs")
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.WithContext(fn.WithPath(ctx, u.Path))
	resp, err := h.Handle(req)
	if err != nil {
		t.Fatalf("fntest: Handle returned an error: %v", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: resp.Body}
}

// Decode unmarshals the body into v, failing the test when it is not JSON of that shape.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("fntest: body is not the expected JSON: %v\n%s", err, r.Body)
	}
}

// Error decodes an error body.
func (r Response) Error(t testing.TB) fn.ErrorInfo {
	t.Helper()
	var b fn.ErrorBody
	r.Decode(t, &b)
	if b.Error.Code == "" {
		t.Fatalf("fntest: not an error body: %s", r.Body)
	}
	return b.Error
}

// Expect fails the test unless the status is want, showing the body.
func (r Response) Expect(t testing.TB, want int) Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, strings.TrimSpace(string(r.Body)))
	}
	return r
}

// ExpectError fails the test unless the response is an error with status and code, and, when
// fields are given, unless its details name exactly those fields.
func (r Response) ExpectError(t testing.TB, status int, code string, fields ...string) fn.ErrorInfo {
	t.Helper()
	r.Expect(t, status)
	e := r.Error(t)
	if e.Code != code {
		t.Fatalf("error code %q, want %q; body: %s", e.Code, code, r.Body)
	}
	if len(fields) > 0 {
		got := map[string]bool{}
		for _, d := range e.Details {
			got[d.Field] = true
		}
		for _, f := range fields {
			if !got[f] {
				t.Fatalf("error details do not name %q; body: %s", f, r.Body)
			}
		}
		if len(got) != len(fields) {
			t.Fatalf("error details name %d fields, want %v; body: %s", len(got), fields, r.Body)
		}
	}
	return e
}

// Deliver posts an event envelope to a queue-triggered function as the connector does (as the
// platform's service) and returns its answer, failing the test unless it is 200.
func Deliver(t testing.TB, h Handler, env any) inbox.Result {
	t.Helper()
	var res inbox.Result
	CallAs(t, Service, h, http.MethodPost, "/", env).Expect(t, http.StatusOK).Decode(t, &res)
	return res
}
