package fn

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

var (
	errBadParam   = fault.New(fault.Malformed, "invalid_parameter", "a path or query parameter is invalid")
	errBadIfMatch = fault.New(fault.Malformed, "invalid_if_match", `If-Match must be one entity tag such as "3"`)
)

// PathUUID parses the path wildcard name as a UUID.
func PathUUID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil || strings.Contains(r.PathValue(name), "{") {
		return uuid.Nil, errBadParam.With(fault.Detail{Field: name, Message: "must be a UUID"})
	}
	return id, nil
}

// QueryBool parses an optional boolean query parameter ("true" or "false").
func QueryBool(r *http.Request, name string) (*bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, errBadParam.With(fault.Detail{Field: name, Message: "must be true or false"})
	}
	return &b, nil
}

// IfMatchVersion reads an If-Match header holding one entity tag made by ETag. It returns nil
// when the header is absent.
func IfMatchVersion(r *http.Request) (*int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return nil, nil
	}
	if len(h) < 3 || h[0] != '"' || h[len(h)-1] != '"' {
		return nil, errBadIfMatch
	}
	v, err := strconv.ParseInt(h[1:len(h)-1], 10, 64)
	if err != nil || v < 1 {
		return nil, errBadIfMatch
	}
	return &v, nil
}
