// Package orgsvc is the org service as a component: its cmd runs it alone, the dev stack and
// whole-suite tests compose it with the others.
package orgsvc

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/grpcapi"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Settings are the org service's own configuration, read like the platform's from ORGPLANE_*
// variables or --flags (see `org --help`).
type Settings struct {
	LicenseMetricsAccounts int `conf:"env:LICENSE_METRICS_ACCOUNTS,default:50,help:how many accounts nearest their license limit the orgplane_license_*_organizations metrics report (one series each)"`
}

// Option adjusts the service for composition and tests.
type Option func(*options)

type options struct{ clock domain.Clock }

// WithClock makes the service read time from now (tests age organizations with it).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// Spec describes the org service to the platform.
func Spec(opts ...Option) platform.Spec {
	var o options
	for _, f := range opts {
		f(&o)
	}
	settings := &Settings{}
	return platform.Spec{
		Name:             "org",
		Config:           settings,
		DefaultGRPCAddr:  ":9101",
		DefaultAdminAddr: ":9201",
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Produces: []proto.Message{
			&orgv1.AccountCreated{}, &orgv1.AccountSettingsUpdated{}, &orgv1.UserCreated{}, &orgv1.UserUpdated{},
			&orgv1.OrganizationCreated{}, &orgv1.OrganizationUpdated{}, &orgv1.OrganizationDeactivated{},
			&orgv1.OrganizationReactivated{}, &orgv1.OrganizationDeleted{}, &orgv1.ReviewCreated{}, &orgv1.ReviewOwnerChanged{},
		},
		// LicenseService, AuthService and OrganizationSyncService have no REST routes: billing,
		// the gateway and integration-sync call them.
		Routes: []platform.Route{
			orgv1.RegisterAccountServiceHandler, orgv1.RegisterAccessServiceHandler,
			orgv1.RegisterOrganizationServiceHandler, orgv1.RegisterReviewServiceHandler,
		},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			// The org service's clock ages page tokens too, so tests can expire them.
			pages := pagetoken.FromKeyring(d.Keys, "org page tokens").WithClock(o.clock)
			st := store.New(d.Pool)
			svc := app.New(st, o.clock, pages)
			grpcapi.RegisterAccounts(d.Server, svc)
			grpcapi.RegisterAccess(d.Server, svc)
			grpcapi.RegisterAuth(d.Server, svc)
			grpcapi.RegisterOrganizations(d.Server, svc)
			grpcapi.RegisterReviews(d.Server, svc)
			grpcapi.RegisterLicenses(d.Server, svc)
			grpcapi.RegisterSync(d.Server, svc)
			return platform.Parts{Consumers: consumers(svc),
				Workers: []platform.Worker{licenseMetrics(st, settings.LicenseMetricsAccounts, d.Log)}}, nil
		},
	}
}

func consumers(svc *app.Service) []events.ConsumerSpec {
	return []events.ConsumerSpec{{
		// The syncing guard: which organizations each integration keeps in sync. One consumer
		// for both events keeps an account's news in order: a "syncing" sent before its
		// integration was deleted never outlives the deletion.
		Durable: "org-syncs",
		Handlers: []events.Handler{
			events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.OrganizationSyncChanged) error {
				return svc.OrganizationSyncChanged(ctx, tx, ev.GetOrganizationId(), ev.GetIntegrationId(), ev.GetSyncing())
			}),
			events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.IntegrationDeleted) error {
				return svc.IntegrationDeleted(ctx, tx, ev.GetIntegrationId())
			}),
		},
		Concurrency: 4,
	}}
}
