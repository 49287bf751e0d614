package tracesink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/zipkin"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-commerce/faas-commerce/infra/tracesink"
)

func startSink(t *testing.T, env map[string]string) (*httptest.Server, *tracesink.Store) {
	t.Helper()
	cfg, err := tracesink.LoadConfig(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	store := tracesink.NewStore(cfg)
	srv := httptest.NewServer(tracesink.Handler(store, cfg.MaxBodyBytes))
	t.Cleanup(srv.Close)
	return srv, store
}

// tracerProvider exports through the real OpenTelemetry Zipkin exporter to the sink.
func tracerProvider(t *testing.T, url, service string) *sdktrace.TracerProvider {
	t.Helper()
	exp, err := zipkin.New(url + "/api/v2/spans")
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(semconv.ServiceName(service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %q: %v", url, b, err)
		}
	}
	return resp.StatusCode
}

// One trace crossing two services comes back whole, by id and by service.
func TestSpansFromTheZipkinExporterComeBackByTraceAndService(t *testing.T) {
	srv, _ := startSink(t, nil)
	ctx := context.Background()
	orders := tracerProvider(t, srv.URL, "create-order").Tracer("test")
	stock := tracerProvider(t, srv.URL, "adjust-stock").Tracer("test")

	// Zipkin span names are lower case; the exporter lowers them
	ctx, root := orders.Start(ctx, "POST /{$}", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("order.id", "o-1")))
	_, publish := orders.Start(ctx, "publish order.placed", trace.WithSpanKind(trace.SpanKindProducer))
	publish.End()
	// the consumer continues the trace from the message's trace context
	consumerCtx := trace.ContextWithRemoteSpanContext(context.Background(), publish.SpanContext())
	_, consume := stock.Start(consumerCtx, "order.placed", trace.WithSpanKind(trace.SpanKindConsumer))
	consume.End()
	root.End()
	traceID := root.SpanContext().TraceID().String()

	var spans []tracesink.Span
	if code := getJSON(t, srv.URL+"/api/v2/trace/"+traceID, &spans); code != http.StatusOK {
		t.Fatalf("GET trace: status %d", code)
	}
	if len(spans) != 3 {
		t.Fatalf("trace has %d spans, want 3: %+v", len(spans), spans)
	}
	byName := map[string]tracesink.Span{}
	for _, s := range spans {
		if s.TraceID != traceID {
			t.Errorf("span %s has trace id %s, want %s", s.Name, s.TraceID, traceID)
		}
		byName[s.Name] = s
	}
	root0, pub, con := byName["post /{$}"], byName["publish order.placed"], byName["order.placed"]
	switch {
	case root0.Kind != "SERVER" || root0.Service() != "create-order" || root0.Tags["order.id"] != "o-1":
		t.Errorf("root span %+v", root0)
	case pub.ParentID != root0.ID || pub.Kind != "PRODUCER":
		t.Errorf("publish span %+v, want child of %s", pub, root0.ID)
	case con.ParentID != pub.ID || con.Service() != "adjust-stock" || con.Kind != "CONSUMER":
		t.Errorf("consume span %+v, want child of %s in adjust-stock", con, pub.ID)
	case root0.Duration <= 0 || root0.Timestamp <= 0:
		t.Errorf("root span has no timing: %+v", root0)
	}

	var services []string
	getJSON(t, srv.URL+"/api/v2/services", &services)
	if strings.Join(services, ",") != "adjust-stock,create-order" {
		t.Errorf("services = %v", services)
	}
	var traces [][]tracesink.Span
	getJSON(t, srv.URL+"/api/v2/traces?serviceName=adjust-stock&limit=5", &traces)
	if len(traces) != 1 || len(traces[0]) != 3 {
		t.Errorf("traces of adjust-stock = %+v, want the one trace with 3 spans", traces)
	}
	var names []string
	getJSON(t, srv.URL+"/api/v2/spans?serviceName=create-order", &names)
	if strings.Join(names, ",") != "post /{$},publish order.placed" {
		t.Errorf("span names = %v", names)
	}
	if code := getJSON(t, srv.URL+"/api/v2/trace/0123456789abcdef0123456789abcdef", nil); code != http.StatusNotFound {
		t.Errorf("unknown trace: status %d, want 404", code)
	}
}

// Past the cap the oldest traces go, so memory stays bounded however long it runs.
func TestOldestTracesAreDroppedPastTheCap(t *testing.T) {
	srv, store := startSink(t, map[string]string{"TRACESINK_MAX_TRACES": "3"})
	tr := tracerProvider(t, srv.URL, "get-product").Tracer("test")
	var ids []string
	for i := range 5 {
		_, span := tr.Start(context.Background(), fmt.Sprintf("call %d", i))
		span.End()
		ids = append(ids, span.SpanContext().TraceID().String())
	}
	for i, id := range ids {
		code := getJSON(t, srv.URL+"/api/v2/trace/"+id, nil)
		if want := map[bool]int{true: http.StatusNotFound, false: http.StatusOK}[i < 2]; code != want {
			t.Errorf("trace %d: status %d, want %d", i, code, want)
		}
	}
	var traces [][]tracesink.Span
	getJSON(t, srv.URL+"/api/v2/traces?limit=10", &traces)
	if len(traces) != 3 || traces[0][0].Name != "call 4" {
		t.Errorf("traces = %+v, want the 3 newest, newest first", traces)
	}
	if kept, dropped := store.Stats(); kept != 3 || dropped != 2 {
		t.Errorf("stats = %d kept, %d dropped; want 3, 2", kept, dropped)
	}
}

func TestBadSpansAreRefusedWithAReason(t *testing.T) {
	srv, _ := startSink(t, nil)
	for name, tc := range map[string]struct {
		contentType, body string
		want              int
	}{
		"not json":         {"application/json", "{", http.StatusBadRequest},
		"not a list":       {"application/json", `{"traceId":"1"}`, http.StatusBadRequest},
		"no trace id":      {"application/json", `[{"id":"0000000000000001"}]`, http.StatusBadRequest},
		"id not hex":       {"application/json", `[{"traceId":"xyz","id":"1"}]`, http.StatusBadRequest},
		"thrift":           {"application/x-thrift", `[]`, http.StatusUnsupportedMediaType},
		"short ids padded": {"application/json", `[{"traceId":"ABC","id":"1","name":"x"}]`, http.StatusAccepted},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/api/v2/spans", tc.contentType, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.want)
			}
			if tc.want >= 400 && !strings.Contains(string(b), `"error"`) {
				t.Errorf("error body %q has no reason", b)
			}
		})
	}
	var spans []tracesink.Span
	if code := getJSON(t, srv.URL+"/api/v2/trace/0000000000000abc", &spans); code != http.StatusOK || spans[0].ID != "0000000000000001" {
		t.Errorf("padded trace: status %d, spans %+v", code, spans)
	}
}
