// Package logs sets up structured JSON logging for every program of the platform. Values that
// belong to a request (the call id, later the trace id) travel in the context and are added to
// each line by the handler, so code logs with slog.InfoContext(ctx, ...) and nothing else.
package logs

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

type ctxKey struct{}

// WithAttrs returns a context whose log lines carry attrs in addition to any already there.
func WithAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, ctxKey{}, all)
}

// Enricher adds attributes derived from a context (for example trace and span ids).
type Enricher func(ctx context.Context) []slog.Attr

var enrichers []Enricher

// AddEnricher registers e for every logger made by New afterwards. Call it during start-up.
func AddEnricher(e Enricher) { enrichers = append(enrichers, e) }

type contextHandler struct {
	slog.Handler
	enrich []Enricher
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(ctxKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	for _, e := range h.enrich {
		r.AddAttrs(e(ctx)...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{Handler: h.Handler.WithAttrs(attrs), enrich: h.enrich}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{Handler: h.Handler.WithGroup(name), enrich: h.enrich}
}

// New returns a JSON logger writing to w at level ("debug", "info", "warn", "error"; default
// info), tagged with the program's name.
func New(w io.Writer, program, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})
	return slog.New(contextHandler{Handler: h, enrich: append([]Enricher(nil), enrichers...)}).With("program", program)
}
