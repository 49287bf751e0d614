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

// PathUUID parses the path wildcard name as a UUID in its canonical lower-case form, so one
// record has one URL.
func PathUUID(r *http.Request, name string) (uuid.UUID, error) {
	s := r.PathValue(name)
	id, err := uuid.Parse(s)
	if err != nil || id.String() != s {
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

var (
	// ErrStaleETag: the If-Match entity tag is not the resource's current one.
	ErrStaleETag = fault.New(fault.PreconditionFailed, "precondition_failed", "If-Match does not hold the current ETag; read the resource again")
	// ErrNeedVersion: an update named no version to check against.
	ErrNeedVersion = fault.New(fault.PreconditionRequired, "precondition_required", `send If-Match with the ETag you read, or "version" in the body`)
	errTwoVersions = fault.New(fault.Invalid, "versions_disagree", `If-Match and "version" disagree`)
)

// ExpectedVersion is the version an update must find: If-Match's or the body's (they must
// agree when both are sent); ErrNeedVersion when neither is.
func ExpectedVersion(ifMatch, body *int64) (*int64, error) {
	switch {
	case ifMatch != nil && body != nil && *ifMatch != *body:
		return nil, errTwoVersions.With(fault.Detail{Field: "version", Message: "must equal the version in If-Match"})
	case ifMatch != nil:
		return ifMatch, nil
	case body != nil:
		return body, nil
	default:
		return nil, ErrNeedVersion
	}
}
