package orgsvc

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/orgplane/orgplane/pkg/observability"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// licenseMetricsTTL is how long one reading of every account's license use serves the
// metrics: it reads the whole account_limits table (one small row per account), so not on
// every collection, but often enough for a scrape every 15 s to see a change soon.
var licenseMetricsTTL = 10 * time.Second

// licenseMetrics is a worker that exports license use while it runs:
// orgplane_license_used_organizations and orgplane_license_limit_organizations for the top
// accounts nearest their limit (labelled account, so a fleet of thousands of accounts costs top
// series, not thousands), and orgplane_license_accounts by state (under, at_limit, over_limit)
// counting every account.
func licenseMetrics(st *store.Store, top int, log *slog.Logger) platform.Worker {
	return func(ctx context.Context) error {
		m := otel.Meter("orgplane/org")
		used, err := m.Int64ObservableGauge("orgplane.license.used_organizations", metric.WithUnit("{organization}"),
			metric.WithDescription("Active organizations of the accounts nearest their license limit, by account."))
		if err != nil {
			return err
		}
		limit, err := m.Int64ObservableGauge("orgplane.license.limit_organizations", metric.WithUnit("{organization}"),
			metric.WithDescription("License limit of the accounts nearest it, by account."))
		if err != nil {
			return err
		}
		accounts, err := m.Int64ObservableGauge("orgplane.license.accounts", metric.WithUnit("{account}"),
			metric.WithDescription("Accounts by license state: under, at_limit or over_limit (an unlimited account is under)."))
		if err != nil {
			return err
		}
		p := observability.NewProbe(licenseMetricsTTL, func(ctx context.Context) (store.LicenseUseSummary, error) {
			sum, err := st.LicenseUseSummary(ctx, top)
			if err != nil {
				log.Debug("cannot read license use for its metrics", "error", err)
			}
			return sum, err
		})
		reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			sum := p.Get()
			for state, n := range map[string]int64{"under": sum.Under, "at_limit": sum.AtLimit, "over_limit": sum.OverLimit} {
				o.ObserveInt64(accounts, n, metric.WithAttributes(attribute.String("state", state)))
			}
			for _, u := range sum.Nearest {
				account := metric.WithAttributes(attribute.String("account", u.AccountID))
				o.ObserveInt64(used, u.Used, account)
				o.ObserveInt64(limit, u.Limit, account)
			}
			return nil
		}, used, limit, accounts)
		if err != nil {
			return err
		}
		defer reg.Unregister() //nolint:errcheck // nothing to do about it at exit
		<-ctx.Done()
		return nil
	}
}
