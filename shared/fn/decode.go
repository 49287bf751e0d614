package fn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/faas-commerce/faas-commerce/shared/fault"
)

var (
	errMalformedJSON = fault.New(fault.Malformed, "malformed_json", "the request body is not valid JSON")
	errWrongType     = fault.New(fault.Malformed, "wrong_type", "a field has the wrong type")
	errUnknownField  = fault.New(fault.Malformed, "unknown_field", "the request has a field this function does not accept")
	errEmptyBody     = fault.New(fault.Malformed, "empty_body", "the request body is empty; a JSON object is expected")
	errTrailing      = fault.New(fault.Malformed, "malformed_json", "the request body must hold exactly one JSON value")
	errMediaType     = fault.New(fault.UnsupportedMediaType, "unsupported_media_type", "the request body must be application/json")
)

// Decode reads r's body as exactly one JSON value into v. Unknown fields, wrong types,
// trailing data, an empty body, a body over the limit and a non-JSON content type are client
// errors that name what was wrong.
func Decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errMediaType.Withf("content type %q is not supported; send application/json", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeError(err)
		}
		return errTrailing
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge.Withf("request body is over the limit of %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return errEmptyBody
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errMalformedJSON.Withf("the request body ends before the JSON value does")
	case errors.As(err, &syntax):
		return errMalformedJSON.Withf("the request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return errWrongType.With(fault.Detail{Field: field, Message: "must be " + jsonKind(typ.Type)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errUnknownField.With(fault.Detail{Field: name, Message: "is not a known field"})
	default:
		return errMalformedJSON.Wrap(err)
	}
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return fmt.Sprintf("of type %s", t.Kind())
	}
}

// Input is a request body that cleans (Normalize) and checks (Validate) itself.
type Input interface {
	Normalize()
	Validate() error
}

// DecodeInput decodes r's body into a T, normalizes and validates it.
func DecodeInput[T any, P interface {
	*T
	Input
}](r *http.Request) (T, error) {
	var v T
	if err := Decode(r, &v); err != nil {
		return v, err
	}
	P(&v).Normalize()
	return v, P(&v).Validate()
}
