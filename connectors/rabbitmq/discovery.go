package rabbitmq

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	cstypes "github.com/openfaas/connector-sdk/types"
	sdk "github.com/openfaas/go-sdk"
)

// ConcurrencyAnnotation sets a function's prefetch and concurrent invocations.
const ConcurrencyAnnotation = "faas-commerce/concurrency"

// Function is a function that subscribes to topics.
type Function struct {
	// Name and Namespace ("" when the gateway has no namespaces) identify it.
	Name, Namespace string
	// Topics are the routing keys of its `topic` annotation, sorted.
	Topics []string
	// Concurrency is its prefetch and number of concurrent invocations.
	Concurrency int
}

// Path is the function's name as the gateway routes it: NAME or NAME.NAMESPACE.
func (f Function) Path() string {
	if f.Namespace == "" {
		return f.Name
	}
	return f.Name + "." + f.Namespace
}

func (f Function) equal(g Function) bool {
	return f.Name == g.Name && f.Namespace == g.Namespace && f.Concurrency == g.Concurrency && slices.Equal(f.Topics, g.Topics)
}

// Lister reads the functions that subscribe to topics from the gateway.
type Lister struct {
	gateway            *url.URL
	client             *http.Client
	auth               sdk.ClientAuth
	defaultConcurrency int
}

// NewLister returns a Lister for gatewayURL. creds may be empty (no auth).
func NewLister(gatewayURL string, client *http.Client, creds Secrets, defaultConcurrency int) (*Lister, error) {
	u, err := url.Parse(gatewayURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("gateway url %q: not an absolute url", gatewayURL)
	}
	var auth sdk.ClientAuth
	if creds.User != "" {
		auth = &sdk.BasicAuth{Username: creds.User, Password: creds.Password}
	}
	return &Lister{gateway: u, client: client, auth: auth, defaultConcurrency: defaultConcurrency}, nil
}

// List returns the functions with a `topic` annotation, sorted by path.
//
// The topic map comes from the connector-sdk's FunctionLookupBuilder, so topics are parsed
// exactly as the OpenFaaS connectors parse them (comma-separated, trimmed, every namespace).
// The concurrency annotation is not part of that map, so the functions are also read with the
// go-sdk (the client the lookup builder itself uses).
func (l *Lister) List(ctx context.Context) ([]Function, error) {
	topicMap, err := cstypes.NewFunctionLookupBuilder(l.gateway.String(), ",", l.client, l.auth).Build()
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	byPath := map[string]*Function{}
	for topic, paths := range topicMap {
		for _, p := range paths {
			f := byPath[p]
			if f == nil {
				name, ns, _ := strings.Cut(p, ".")
				f = &Function{Name: name, Namespace: ns, Concurrency: l.defaultConcurrency}
				byPath[p] = f
			}
			if !slices.Contains(f.Topics, topic) {
				f.Topics = append(f.Topics, topic)
			}
		}
	}
	if len(byPath) == 0 {
		return nil, nil
	}
	if err := l.annotate(ctx, byPath); err != nil {
		return nil, err
	}
	out := make([]Function, 0, len(byPath))
	for _, f := range byPath {
		slices.Sort(f.Topics)
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Function) int { return strings.Compare(a.Path(), b.Path()) })
	return out, nil
}

// annotate sets each function's concurrency from its annotation.
func (l *Lister) annotate(ctx context.Context, byPath map[string]*Function) error {
	client := sdk.NewClient(l.gateway, l.auth, l.client)
	namespaces := map[string]bool{}
	for _, f := range byPath {
		namespaces[f.Namespace] = true
	}
	for ns := range namespaces {
		fns, err := client.GetFunctions(ctx, ns)
		if err != nil {
			return fmt.Errorf("list functions in namespace %q: %w", ns, err)
		}
		for _, st := range fns {
			f := byPath[Function{Name: st.Name, Namespace: ns}.Path()]
			if f == nil || st.Annotations == nil {
				continue
			}
			if v, ok := (*st.Annotations)[ConcurrencyAnnotation]; ok {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 1 || n > 1000 {
					// A bad annotation keeps the default rather than stopping every function.
					continue
				}
				f.Concurrency = n
			}
		}
	}
	return nil
}
