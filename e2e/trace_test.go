package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faas-commerce/faas-commerce/e2e/platform"
)

// zipkinSpan is a span as the trace sink serves it (Zipkin v2 JSON).
type zipkinSpan struct {
	TraceID       string `json:"traceId"`
	ID            string `json:"id"`
	ParentID      string `json:"parentId"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Timestamp     int64  `json:"timestamp"` // microseconds since the epoch
	Duration      int64  `json:"duration"`  // microseconds
	LocalEndpoint struct {
		ServiceName string `json:"serviceName"`
	} `json:"localEndpoint"`
	Tags map[string]string `json:"tags"`
}

func (s zipkinSpan) service() string { return s.LocalEndpoint.ServiceName }

func (s zipkinSpan) String() string {
	return fmt.Sprintf("%s: %s (%s)", s.service(), s.Name, time.Duration(s.Duration)*time.Microsecond)
}

// trace is one trace's spans by id.
type traceTree map[string]zipkinSpan

// ancestors lists the spans above id, nearest first.
func (tr traceTree) ancestors(id string) []zipkinSpan {
	var out []zipkinSpan
	for s, ok := tr[tr[id].ParentID]; ok; s, ok = tr[s.ParentID] {
		out = append(out, s)
		if len(out) > len(tr) {
			break // a cycle; the tree check reports it
		}
	}
	return out
}

// is reports whether s is from service and its name starts with name (Zipkin lowercases names).
func (s zipkinSpan) is(service, name string) bool {
	return s.service() == service && strings.HasPrefix(strings.ToLower(s.Name), strings.ToLower(name))
}

// find returns the spans matching service and a name prefix.
func (tr traceTree) find(service, name string) []zipkinSpan {
	var out []zipkinSpan
	for _, s := range tr {
		if s.is(service, name) {
			out = append(out, s)
		}
	}
	return out
}

// hasAncestor reports whether one of span's ancestors is from service with a name prefix.
func (tr traceTree) hasAncestor(span zipkinSpan, service, name string) bool {
	return slices.ContainsFunc(tr.ancestors(span.ID), func(a zipkinSpan) bool { return a.is(service, name) })
}

// One order is one trace: read back from the trace sink over Zipkin's HTTP API, it holds the
// spans of create-order, the relay's publishes, the connector's deliveries, adjust-stock,
// charge-payment, complete-order and send-notification, in one tree rooted at the request.
func TestOneOrderIsOneTrace(t *testing.T) {
	p := platform.Start(t, platform.Options{})
	s := newShop(t, p)
	mug := s.product(t, "MUG-T", 1200, 3)
	_, tok := s.customer(t, "traced@example.com")
	r := p.Call(t, http.MethodPost, "create-order", tok, map[string]any{"lines": []any{line(mug, 1)}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create-order: %d %s", r.Status, r.Body)
	}
	var o order
	r.Decode(t, &o)
	traceID := r.Header.Get("X-Trace-Id")
	if len(traceID) != 32 {
		t.Fatalf("create-order answered without a trace id (X-Trace-Id %q)", traceID)
	}
	if got := s.settled(t, []string{o.ID}, 60*time.Second)[o.ID]; got.Status != "COMPLETED" {
		t.Fatalf("order %s ended %s (%s)", o.ID, got.Status, got.CancelReason)
	}
	platform.Eventually(t, 30*time.Second, func() bool {
		var n int
		err := p.DB.Pool.QueryRow(t.Context(), "SELECT count(*) FROM notifications.notifications WHERE order_id = $1 AND event_type = 'order.completed'", o.ID).Scan(&n)
		return err == nil && n > 0
	}, func() string { return "no notification of the completed order" })

	// The last spans reach the sink a batch delay after the work: read until every hop is in.
	var tr traceTree
	missing := []string{"everything"}
	// Each program exports in its own batches, so a child can arrive before its parent: wait
	// for every named hop and for every parent a span names.
	platform.Eventually(t, 30*time.Second, func() bool {
		tr, missing = readTrace(t, p.TraceURL, traceID)
		for _, sp := range tr {
			if _, ok := tr[sp.ParentID]; sp.ParentID != "" && !ok {
				missing = append(missing, "the parent of "+sp.Name)
			}
		}
		return len(missing) == 0
	}, func() string { return fmt.Sprintf("trace %s lacks %v; has\n%s", traceID, missing, render(tr)) })

	// One tree: a single root (the gateway's span of the request), every parent in the trace.
	var roots []zipkinSpan
	for _, sp := range tr {
		if sp.ParentID == "" {
			roots = append(roots, sp)
		} else if _, ok := tr[sp.ParentID]; !ok {
			t.Errorf("span %v has parent %s, which is not in the trace", sp, sp.ParentID)
		}
	}
	if len(roots) != 1 || !roots[0].is("provider", "proxy create-order") {
		t.Errorf("roots %v, want the provider's proxy create-order alone", roots)
	}
	// Each hop is parented through the one before it.
	chain := []struct{ service, name, parentService, parentName string }{
		{"create-order", "create-order", "provider", "proxy create-order"},
		{"relay", "publish order.placed", "create-order", "create-order"},
		{"rabbitmq-connector", "process order.placed", "relay", "publish order.placed"},
		{"adjust-stock", "adjust-stock", "rabbitmq-connector", "process order.placed"},
		{"relay", "publish stock.reserved", "adjust-stock", "adjust-stock"},
		{"charge-payment", "charge-payment", "rabbitmq-connector", "process stock.reserved"},
		{"charge-payment", "charge-payment", "relay", "publish stock.reserved"},
		{"paymentsim", "POST /v1/charges", "charge-payment", "charge-payment"},
		{"complete-order", "complete-order", "relay", "publish payment.succeeded"},
		{"relay", "publish payment.succeeded", "charge-payment", "charge-payment"},
		{"send-notification", "send-notification", "relay", "publish order.completed"},
		{"relay", "publish order.completed", "complete-order", "complete-order"},
	}
	for _, c := range chain {
		spans := tr.find(c.service, c.name)
		if !slices.ContainsFunc(spans, func(sp zipkinSpan) bool { return tr.hasAncestor(sp, c.parentService, c.parentName) }) {
			t.Errorf("no %s %q span below %s %q", c.service, c.name, c.parentService, c.parentName)
		}
	}
	for _, sp := range tr.find("relay", "publish ") {
		if sp.Kind != "PRODUCER" || sp.Tags["messaging.system"] != "rabbitmq" || sp.Tags["messaging.destination.name"] == "" ||
			sp.Tags["messaging.rabbitmq.destination.routing_key"] == "" || sp.Tags["messaging.message.id"] == "" {
			t.Errorf("publish span %v: kind %s tags %v", sp, sp.Kind, sp.Tags)
		}
	}
	for _, sp := range tr.find("rabbitmq-connector", "process ") {
		if sp.Kind != "CONSUMER" || sp.Tags["messaging.system"] != "rabbitmq" || sp.Tags["messaging.message.id"] == "" {
			t.Errorf("process span %v: kind %s tags %v", sp, sp.Kind, sp.Tags)
		}
	}
	t.Logf("trace %s of order %s, %d spans:\n%s", traceID, o.ID, len(tr), render(tr))
}

// readTrace reads a trace from the sink and says which of the expected hops it lacks.
func readTrace(t *testing.T, sinkURL, traceID string) (traceTree, []string) {
	t.Helper()
	resp, err := http.Get(sinkURL + "/api/v2/trace/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, []string{"the trace"}
	}
	var spans []zipkinSpan
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &spans) != nil {
		t.Fatalf("GET trace %s: %d %s", traceID, resp.StatusCode, b)
	}
	tr := traceTree{}
	for _, s := range spans {
		tr[s.ID] = s
	}
	var missing []string
	for _, want := range []struct{ service, name string }{
		{"provider", "proxy create-order"}, {"create-order", "create-order"},
		{"relay", "publish order.placed"}, {"relay", "publish stock.reserved"}, {"relay", "publish payment.succeeded"}, {"relay", "publish order.completed"},
		{"rabbitmq-connector", "process order.placed"}, {"rabbitmq-connector", "process stock.reserved"},
		{"rabbitmq-connector", "process payment.succeeded"}, {"rabbitmq-connector", "process order.completed"},
		{"adjust-stock", "adjust-stock"}, {"charge-payment", "charge-payment"}, {"paymentsim", "POST /v1/charges"},
		{"complete-order", "complete-order"}, {"send-notification", "send-notification"},
	} {
		if len(tr.find(want.service, want.name)) == 0 {
			missing = append(missing, want.service+" "+want.name)
		}
	}
	// send-notification runs twice: order.placed and order.completed.
	if n := len(tr.find("send-notification", "send-notification")); n < 2 {
		missing = append(missing, fmt.Sprintf("send-notification twice (%d)", n))
	}
	return tr, missing
}

// render prints the tree, children under their parent in start order, with durations.
func render(tr traceTree) string {
	children := map[string][]zipkinSpan{}
	for _, s := range tr {
		parent := s.ParentID
		if _, ok := tr[parent]; !ok {
			parent = ""
		}
		children[parent] = append(children[parent], s)
	}
	var b strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		kids := children[parent]
		slices.SortFunc(kids, func(a, c zipkinSpan) int { return int(a.Timestamp - c.Timestamp) })
		for _, s := range kids {
			fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth), s)
			if depth < 64 {
				walk(s.ID, depth+1)
			}
		}
	}
	walk("", 0)
	return b.String()
}
