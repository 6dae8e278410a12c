package stack_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/observability"
)

// recordSpans makes every span of the process (the whole suite runs in it) land in memory for
// the rest of the test, with the propagator the services' main installs.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	// Sampled whatever OTEL_TRACES_SAMPLER the environment holds: the test asserts on every span.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(observability.Propagator())
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(context.Background())
	})
	return exp
}

// consumersOf lists the durable consumers whose filter takes subject, as JetStream has them:
// the ones that must handle an event published there.
func consumersOf(t *testing.T, s *suite, subject string) []string {
	t.Helper()
	_, js := adminJetStream(t, s.st)
	sub, ok := events.ParseSubject(subject)
	if !ok {
		t.Fatalf("%s is no event subject", subject)
	}
	stream := "ORGPLANE_" + strings.ToUpper(strings.Split(sub.Prefix, ".")[1])
	var out []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out = out[:0]
		str, err := js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		infos := str.ListConsumers(context.Background())
		for info := range infos.Info() {
			filters := append([]string{info.Config.FilterSubject}, info.Config.FilterSubjects...)
			if slices.ContainsFunc(filters, func(f string) bool { return f != "" && subjectMatches(f, subject) }) {
				out = append(out, info.Name)
			}
		}
		if len(out) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the consumers are provisioned as their services start
	}
	if len(out) == 0 {
		t.Fatalf("no consumer of %s in %s", subject, stream)
	}
	slices.Sort(out)
	return out
}

// Issue 17 point 5: one REST create is one connected trace, from the gateway's HTTP span through
// the gateway's gRPC call, the org service's handler and its Postgres statements, the outbox
// relay's publish, to every consumer that handles organization.created (and what they do).
func TestOneRESTCreateIsOneTraceThroughTheConsumers(t *testing.T) {
	spans := recordSpans(t)
	s := startSuite(t)
	created := s.do("POST", "/v1/accounts", operatorToken, accountBody("Traced MSP"))
	if created.code != http.StatusOK {
		t.Fatalf("create account = %d %s", created.code, created.body)
	}
	m := created.json(t)
	account, key := m["account"].(map[string]any)["id"].(string), m["administratorApiKey"].(string)
	subject := fmt.Sprintf("orgplane.org.v1.%s.organization.created", account)
	consumers := consumersOf(t, s, subject)

	path := "/v1/accounts/" + account + "/organizations"
	if r := s.do("POST", path, key, `{"name":"Traced Org"}`); r.code != http.StatusOK {
		t.Fatalf("create organization = %d %s", r.code, r.body)
	}

	createRPC := strings.TrimPrefix(orgv1.OrganizationService_CreateOrganization_FullMethodName, "/") // as otelgrpc names its spans
	var (
		trail   []tracetest.SpanStub
		missing []string
	)
	deadline := time.Now().Add(20 * time.Second)
	for {
		trail, missing = requestTrace(spans.GetSpans(), "POST "+path, createRPC, subject, consumers)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(missing) > 0 {
		for _, sp := range trail {
			t.Logf("span %s %q kind %s parent %s scope %s", sp.SpanContext.SpanID(), sp.Name, sp.SpanKind, sp.Parent.SpanID(), sp.InstrumentationScope.Name)
		}
		t.Fatalf("the request's trace (%d spans) lacks: %s", len(trail), strings.Join(missing, "; "))
	}
}

// requestTrace finds the trace of the REST request (its gateway server span is the root) and
// reports what is missing from it: the spans the issue names, and the connection of every span
// to the root through spans of the same trace.
func requestTrace(all tracetest.SpanStubs, route, rpc, subject string, consumers []string) (tracetest.SpanStubs, []string) {
	var root *tracetest.SpanStub
	for i, sp := range all {
		if sp.Name == route && sp.SpanKind == trace.SpanKindServer {
			root = &all[i]
		}
	}
	if root == nil {
		return nil, []string{"the gateway's HTTP server span " + route}
	}
	traceID := root.SpanContext.TraceID()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	var trail tracetest.SpanStubs
	for _, sp := range all {
		if sp.SpanContext.TraceID() == traceID {
			byID[sp.SpanContext.SpanID()] = sp
			trail = append(trail, sp)
		}
	}
	var missing []string
	if root.Parent.IsValid() {
		missing = append(missing, "a root: the gateway span has a parent "+root.Parent.SpanID().String())
	}
	has := func(what string, match func(tracetest.SpanStub) bool) {
		if !slices.ContainsFunc(trail, match) {
			missing = append(missing, what)
		}
	}
	has("the gateway's gRPC client span "+rpc, func(sp tracetest.SpanStub) bool {
		return sp.Name == rpc && sp.SpanKind == trace.SpanKindClient
	})
	has("the org service's gRPC server span "+rpc, func(sp tracetest.SpanStub) bool {
		return sp.Name == rpc && sp.SpanKind == trace.SpanKindServer
	})
	has("a Postgres span of the org service", func(sp tracetest.SpanStub) bool {
		return strings.Contains(sp.InstrumentationScope.Name, "otelpgx") && byID[sp.Parent.SpanID()].SpanKind == trace.SpanKindServer
	})
	has("the relay's publish span", func(sp tracetest.SpanStub) bool {
		return sp.Name == "publish "+subject && sp.SpanKind == trace.SpanKindProducer
	})
	for _, c := range consumers {
		has("the span of consumer "+c, func(sp tracetest.SpanStub) bool {
			return sp.Name == "consume "+subject && sp.SpanKind == trace.SpanKindConsumer &&
				slices.Contains(sp.Attributes, attribute.String("messaging.consumer.group.name", c)) &&
				byID[sp.Parent.SpanID()].Name == "publish "+subject
		})
	}
	// Connected: every span's parents, followed within the trace, end at the gateway's span.
	for _, sp := range trail {
		cur, hops := sp, 0
		for cur.Parent.IsValid() && hops < len(trail) {
			parent, ok := byID[cur.Parent.SpanID()]
			if !ok {
				break
			}
			cur, hops = parent, hops+1
		}
		if cur.SpanContext.SpanID() != root.SpanContext.SpanID() {
			missing = append(missing, fmt.Sprintf("a path from span %q to the root (stops at %q, whose parent %s is not in the trace)",
				sp.Name, cur.Name, cur.Parent.SpanID()))
		}
	}
	return trail, missing
}
