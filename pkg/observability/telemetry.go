package observability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Telemetry owns a process's tracer and meter providers.
type Telemetry struct {
	// Metrics serves the process's metrics in Prometheus text format (mount it at /metrics).
	Metrics http.Handler
	// TracesExporter and MetricsExporter say where spans and metrics leave the process besides
	// /metrics: "none", or the exporter the OTEL_* variables chose ("otlp grpc",
	// "otlp http/protobuf", "console"). Processes log them at start.
	TracesExporter, MetricsExporter string
	shutdown                        []func(context.Context) error
}

// NoExporter is Telemetry.TracesExporter and MetricsExporter when nothing is exported.
const NoExporter = "none"

// Setup installs the process-wide OpenTelemetry providers (instrumentation libraries find them
// through the otel globals, which is why this is done once, in main). It is configured the way
// every OpenTelemetry SDK is, by the OTEL_* variables (docs/observability.md):
//
//   - OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over service and version;
//   - OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_PROTOCOL, the
//     OTEL_EXPORTER_OTLP_*ENDPOINT and *HEADERS variables choose the exporters (autoexport);
//   - OTEL_TRACES_SAMPLER(_ARG) and OTEL_BSP_* tune tracing (the SDK reads them itself);
//   - OTEL_SDK_DISABLED=true exports nothing.
//
// One departure from the SDK's defaults: with neither an exporter nor an OTLP endpoint named,
// nothing is exported and nothing tries to connect (the SDK would send to localhost:4318), so a
// laptop without a collector stays quiet. Spans are always recorded, so logs carry trace ids,
// and metrics are always served in Prometheus format.
func Setup(ctx context.Context, service, version string) (*Telemetry, error) {
	// Later detectors win: our name and version are only the defaults the environment overrides.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("otel resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	t := &Telemetry{TracesExporter: NoExporter, MetricsExporter: NoExporter}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
	switch exporter, export := wanted("METRICS"); {
	case !export:
	case exporter == "prometheus":
		// Already served at /metrics; autoexport would open a second listener for the same.
		t.MetricsExporter = "prometheus (/metrics)"
	default:
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("metrics exporter (OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_*): %w", err)
		}
		if !autoexport.IsNoneMetricReader(r) {
			mopts = append(mopts, sdkmetric.WithReader(r))
			t.MetricsExporter = describe(exporter, "METRICS")
		}
	}
	mp := sdkmetric.NewMeterProvider(mopts...)

	// No sampler is passed, so the SDK applies OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exporter, export := wanted("TRACES"); export {
		e, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			_ = mp.Shutdown(ctx)
			return nil, fmt.Errorf("traces exporter (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_*): %w", err)
		}
		if !autoexport.IsNoneSpanExporter(e) {
			topts = append(topts, sdktrace.WithBatcher(e))
			t.TracesExporter = describe(exporter, "TRACES")
		}
	}
	tp := sdktrace.NewTracerProvider(topts...)

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(Propagator())
	t.shutdown = []func(context.Context) error{tp.Shutdown, mp.Shutdown}
	return t, nil
}

// Propagator is how trace context crosses process boundaries: W3C trace context and baggage, in
// HTTP and gRPC headers and in the headers of events on NATS.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// wanted reads whether a signal ("TRACES", "METRICS") is to be exported, and by which exporter
// ("" leaves the choice to autoexport's default, OTLP).
func wanted(signal string) (exporter string, export bool) {
	if disabled, _ := strconv.ParseBool(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED"))); disabled {
		return "", false
	}
	if e := strings.TrimSpace(os.Getenv("OTEL_" + signal + "_EXPORTER")); e != "" {
		return e, e != "none"
	}
	return "", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// describe names the exporter autoexport built, with the OTLP protocol it chose.
func describe(exporter, signal string) string {
	if exporter != "" && exporter != "otlp" {
		return exporter
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if proto == "" {
		proto = "http/protobuf" // the specification's default, and autoexport's
	}
	return "otlp " + proto
}

// Shutdown flushes and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
