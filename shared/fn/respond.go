package fn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/pg"
)

// ErrorBody is the JSON shape of every error response: {"error":{"code","message","details"}}.
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

// ErrorInfo is the inside of ErrorBody.
type ErrorInfo struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details []fault.Detail `json:"details"`
}

var statusOf = map[fault.Kind]int{
	fault.Internal:             http.StatusInternalServerError,
	fault.Malformed:            http.StatusBadRequest,
	fault.Invalid:              http.StatusUnprocessableEntity,
	fault.Unauthenticated:      http.StatusUnauthorized,
	fault.Forbidden:            http.StatusForbidden,
	fault.NotFound:             http.StatusNotFound,
	fault.MethodNotAllowed:     http.StatusMethodNotAllowed,
	fault.Conflict:             http.StatusConflict,
	fault.PreconditionFailed:   http.StatusPreconditionFailed,
	fault.PreconditionRequired: http.StatusPreconditionRequired,
	fault.TooLarge:             http.StatusRequestEntityTooLarge,
	fault.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	fault.TooManyRequests:      http.StatusTooManyRequests,
	fault.Unavailable:          http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status for a fault kind.
func StatusOf(k fault.Kind) int {
	if s, ok := statusOf[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

var (
	errInternal    = fault.New(fault.Internal, "internal", "internal error")
	errUnavailable = fault.New(fault.Unavailable, "unavailable", "the request was cancelled or a dependency is unavailable; retry later")
	errDatabase    = fault.New(fault.Unavailable, "database_unavailable", "the database is unavailable; retry later")
)

// WriteError maps err to a status and a JSON error body, once, at the edge. Unclassified
// errors are logged with the call id and shown to the client only as "internal error".
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	fe, ok := fault.As(err)
	switch {
	case ok && fe.Kind != fault.Internal:
		if fe.Kind >= fault.Unavailable || fe.Err != nil {
			slog.WarnContext(r.Context(), "request failed", "code", fe.Code, "error", err)
		}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		slog.WarnContext(r.Context(), "request cut short", "error", err)
		fe = errUnavailable
	case pg.Unavailable(err):
		slog.WarnContext(r.Context(), "database unavailable", "error", err)
		fe = errDatabase
	default:
		slog.ErrorContext(r.Context(), "internal error", "error", err)
		fe = errInternal
	}
	details := fe.Details
	if details == nil {
		details = []fault.Detail{}
	}
	if fe.Kind == fault.Unavailable || fe.Kind == fault.TooManyRequests {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	JSON(w, StatusOf(fe.Kind), ErrorBody{Error: ErrorInfo{Code: fe.Code, Message: fe.Message, Details: details}})
}

// JSON writes v as a JSON response with status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"internal error","details":[]}}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // the client went away; nothing left to tell it
}
