package platform

import (
	"context"
	"fmt"
	"io"
	"reflect"

	"github.com/ardanlabs/conf/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/orgplane/orgplane/pkg/version"
)

// BuildInfoMetric is the gauge every Orgplane process exports with value 1 and its build as
// labels (version, revision, go_version): the Prometheus convention for joining a build onto
// other series and for spotting a fleet running mixed versions.
const BuildInfoMetric = "build_info"

// RecordBuildInfo registers the build_info gauge with mp. Call it once per process: with the
// OpenTelemetry global provider it may come before observability.Setup, since the global
// provider hands instruments on to the one Setup installs.
func RecordBuildInfo(mp metric.MeterProvider) error {
	info := version.Get()
	labels := metric.WithAttributes(attribute.String("version", info.Version),
		attribute.String("revision", info.ShortRevision()), attribute.String("go_version", info.GoVersion))
	_, err := mp.Meter("orgplane/platform").Int64ObservableGauge(BuildInfoMetric,
		metric.WithDescription("The build of this process, as labels; always 1."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, labels)
			return nil
		}))
	if err != nil {
		return fmt.Errorf("%s metric: %w", BuildInfoMetric, err)
	}
	return nil
}

// printVersion answers `<binary> --version` and `<binary> version`.
func printVersion(w io.Writer, program string) {
	fmt.Fprintln(w, version.Get().String(program))
}

// stampVersion fills the conf.Version a configuration struct embeds with the build's version,
// so the OpenTelemetry resource (service.version) and the logged configuration name the build
// without every main having to.
func stampVersion(cfg any) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	f := v.Elem().FieldByName("Version")
	if !f.IsValid() || f.Type() != reflect.TypeFor[conf.Version]() || !f.CanSet() {
		return
	}
	if cv := f.Addr().Interface().(*conf.Version); cv.Build == "" {
		cv.Build = version.Get().Version
	}
}
