package fn

import "context"

type pathKey struct{}

// WithPath records the request path for Handle: the golang-http Request has no path field, so
// the template's main (and tests) pass it in the context.
func WithPath(ctx context.Context, path string) context.Context {
	return context.WithValue(ctx, pathKey{}, path)
}

// PathFrom returns the path recorded by WithPath, "/" when there is none.
func PathFrom(ctx context.Context) string {
	if p, ok := ctx.Value(pathKey{}).(string); ok && p != "" {
		return p
	}
	return "/"
}
