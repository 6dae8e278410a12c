package orgsvc

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// The license metrics count every account by state and report only the top accounts nearest
// their limit, read across accounts although account_limits is under the tenant policy.
func TestLicenseMetricsCountEveryAccountAndReportTheFullest(t *testing.T) {
	spec := Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SET search_path = "+spec.Schema()); err != nil {
		t.Fatal(err)
	}
	// name: limit (-1 unlimited), active organizations
	accounts := map[string][2]int{
		"nine of ten": {10, 9}, "full": {10, 10}, "over": {5, 6}, "unlimited": {-1, 100}, "roomy": {100, 1},
		"zero limit": {0, 0},
	}
	ids := map[string]string{}
	for name, a := range accounts {
		var limit any
		if a[0] >= 0 {
			limit = a[0]
		}
		var id string
		err := admin.QueryRow(ctx, `WITH a AS (INSERT INTO accounts (display_name) VALUES ($1) RETURNING id)
			INSERT INTO account_limits (account_id, organization_limit, active_count) SELECT id, $2, $3 FROM a
			RETURNING account_id::text`, name, limit, a[1]).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}

	reader := sdkmetric.NewManualReader()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(prev) })
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- licenseMetrics(store.New(db.Pool), 3, slog.New(slog.DiscardHandler))(wctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	got := map[string]int64{}
	deadline := time.Now().Add(10 * time.Second)
	for got["accounts under"]+got["accounts at_limit"]+got["accounts over_limit"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no license metrics within 10 s: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		got = map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				g, ok := m.Data.(metricdata.Gauge[int64])
				if !ok {
					continue
				}
				for _, dp := range g.DataPoints {
					if v, ok := dp.Attributes.Value(attribute.Key("state")); ok && m.Name == "orgplane.license.accounts" {
						got["accounts "+v.AsString()] = dp.Value
					}
					if v, ok := dp.Attributes.Value(attribute.Key("account")); ok {
						got[fmt.Sprintf("%s %s", m.Name, v.AsString())] = dp.Value
					}
				}
			}
		}
	}
	want := map[string]int64{
		"accounts under": 3, "accounts at_limit": 2, "accounts over_limit": 1,
		// the fullest three: over (6/5), then at 100% the one with no room either way
		"orgplane.license.used_organizations " + ids["over"]:        6,
		"orgplane.license.limit_organizations " + ids["over"]:       5,
		"orgplane.license.used_organizations " + ids["full"]:        10,
		"orgplane.license.limit_organizations " + ids["full"]:       10,
		"orgplane.license.used_organizations " + ids["zero limit"]:  0,
		"orgplane.license.limit_organizations " + ids["zero limit"]: 0,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("license metrics:\n got %v\nwant %v", got, want)
	}
}
