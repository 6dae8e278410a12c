package observability_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricsv1 "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	resourcev1 "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/observability"
)

// receiver is an OTLP collector in the test: what the process exports, by resource.
type receiver struct {
	tracev1.UnimplementedTraceServiceServer
	metricsv1.UnimplementedMetricsServiceServer
	mu      sync.Mutex
	spans   map[string][]string // span names by service.name
	metrics map[string][]string // metric names by service.name
	attrs   []map[string]string // every resource seen
}

func newReceiver() *receiver {
	return &receiver{spans: map[string][]string{}, metrics: map[string][]string{}}
}

func (r *receiver) resource(res *resourcev1.Resource) string {
	attrs := map[string]string{}
	for _, kv := range res.GetAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	r.attrs = append(r.attrs, attrs)
	return attrs["service.name"]
}

func (r *receiver) Export(_ context.Context, req *tracev1.ExportTraceServiceRequest) (*tracev1.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		svc := r.resource(rs.GetResource())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans[svc] = append(r.spans[svc], s.GetName())
			}
		}
	}
	return &tracev1.ExportTraceServiceResponse{}, nil
}

type metricsService struct{ *receiver }

func (m metricsService) Export(_ context.Context, req *metricsv1.ExportMetricsServiceRequest) (*metricsv1.ExportMetricsServiceResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		svc := m.resource(rm.GetResource())
		for _, sm := range rm.GetScopeMetrics() {
			for _, x := range sm.GetMetrics() {
				m.metrics[svc] = append(m.metrics[svc], x.GetName())
			}
		}
	}
	return &metricsv1.ExportMetricsServiceResponse{}, nil
}

func (r *receiver) got() (spans, metrics map[string][]string, attrs []map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spans, r.metrics, r.attrs
}

// serveGRPC runs r as an OTLP/gRPC receiver and returns its endpoint URL.
func (r *receiver) serveGRPC(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	tracev1.RegisterTraceServiceServer(srv, r)
	metricsv1.RegisterMetricsServiceServer(srv, metricsService{r})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return "http://" + lis.Addr().String()
}

// serveHTTP runs r as an OTLP/HTTP (protobuf) receiver and returns its endpoint URL.
func (r *receiver) serveHTTP(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var in tracev1.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = r.Export(req.Context(), &in)
		out, _ := proto.Marshal(&tracev1.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var in metricsv1.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = metricsService{r}.Export(req.Context(), &in)
		out, _ := proto.Marshal(&metricsv1.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// clearOTELEnv makes the test independent of the OTEL_* variables of whoever runs it.
func clearOTELEnv(t *testing.T) {
	for _, kv := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_SERVICE_NAME",
		"OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SDK_DISABLED"} {
		t.Setenv(kv, "")
	}
}

// emit records a span and a metric through the globals, as instrumentation libraries do, and
// shuts the providers down, which flushes both.
func emit(t *testing.T, tel *observability.Telemetry) {
	t.Helper()
	ctx := context.Background()
	_, span := otel.Tracer("test").Start(ctx, "checkout")
	span.End()
	c, err := otel.Meter("test").Int64Counter("orgplane.test.exported", metric.WithDescription("a metric to export"))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 1)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown (flush): %v", err)
	}
}

// The OTEL_* variables configure export as in any OpenTelemetry program: the endpoint and
// protocol choose the exporter (http/protobuf when no protocol is named, as the specification
// says), OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the process's own name.
func TestOTELVariablesConfigureExport(t *testing.T) {
	for _, c := range []struct {
		protocol string
		serve    func(*receiver, *testing.T) string
		want     string
	}{
		{"grpc", (*receiver).serveGRPC, "otlp grpc"},
		{"", (*receiver).serveHTTP, "otlp http/protobuf"},
	} {
		t.Run(c.want, func(t *testing.T) {
			clearOTELEnv(t)
			r := newReceiver()
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.serve(r, t))
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", c.protocol)
			t.Setenv("OTEL_SERVICE_NAME", "custom-name")
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,service.name=overridden-by-otel-service-name")
			tel, err := observability.Setup(context.Background(), "orgplane-test", "1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			if tel.TracesExporter != c.want || tel.MetricsExporter != c.want {
				t.Errorf("exporters = %q, %q; want %q", tel.TracesExporter, tel.MetricsExporter, c.want)
			}
			emit(t, tel)
			spans, metrics, attrs := r.got()
			if len(spans) != 1 || len(spans["custom-name"]) != 1 || spans["custom-name"][0] != "checkout" {
				t.Errorf("spans by service.name = %v; want the span under custom-name only", spans)
			}
			if !strings.Contains(strings.Join(metrics["custom-name"], ","), "orgplane.test.exported") {
				t.Errorf("metrics by service.name = %v; want orgplane.test.exported under custom-name", metrics)
			}
			for _, a := range attrs {
				if a["deployment.environment"] != "test" || a["service.version"] != "1.2.3" {
					t.Errorf("resource %v lacks deployment.environment=test from OTEL_RESOURCE_ATTRIBUTES or our service.version", a)
				}
			}
		})
	}
}

// Without an exporter or an endpoint named nothing is exported, unlike the SDK's default of
// localhost; OTEL_SDK_DISABLED and the "none" exporter turn export off even with an endpoint
// set (the receiver listens there and must get nothing). Spans are recorded either way, so logs
// keep their trace ids, and the sampler follows OTEL_TRACES_SAMPLER.
func TestNothingIsExportedUnlessAsked(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
	}{
		{"no variables", nil},
		{"OTEL_SDK_DISABLED", map[string]string{"OTEL_SDK_DISABLED": "true"}},
		{"none exporters", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clearOTELEnv(t)
			r := newReceiver()
			endpoint := r.serveGRPC(t)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
			if c.env != nil {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			tel, err := observability.Setup(context.Background(), "orgplane-test", "dev")
			if err != nil {
				t.Fatal(err)
			}
			if tel.TracesExporter != observability.NoExporter || tel.MetricsExporter != observability.NoExporter {
				t.Errorf("exporters = %q, %q; want none", tel.TracesExporter, tel.MetricsExporter)
			}
			_, span := otel.Tracer("test").Start(context.Background(), "op")
			if !span.SpanContext().IsValid() || !span.SpanContext().IsSampled() {
				t.Errorf("span %v not recorded; logs would lose their trace ids", span.SpanContext())
			}
			emit(t, tel)
			if spans, metrics, _ := r.got(); len(spans)+len(metrics) != 0 {
				t.Errorf("exported %v %v; want nothing", spans, metrics)
			}
		})
	}

	t.Run("OTEL_TRACES_SAMPLER", func(t *testing.T) {
		clearOTELEnv(t)
		t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
		tel, err := observability.Setup(context.Background(), "orgplane-test", "dev")
		if err != nil {
			t.Fatal(err)
		}
		defer tel.Shutdown(context.Background())
		_, span := otel.Tracer("test").Start(context.Background(), "op")
		defer span.End()
		if span.SpanContext().IsSampled() {
			t.Error("OTEL_TRACES_SAMPLER=always_off still samples")
		}
	})

	t.Run("an unknown exporter is an error naming the variables", func(t *testing.T) {
		clearOTELEnv(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "zipkin-v0")
		if _, err := observability.Setup(context.Background(), "orgplane-test", "dev"); err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER") {
			t.Fatalf("got %v", err)
		}
	})
}
