// Package mappingsvc is the mapping service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The mapping service owns the links between Orgplane organizations and their twins in
// integrated tools: the Setup Organizations grid, batch saves, match suggestions and "Add from
// IT Glue" imports. It keeps its own copy of the organizations and external organizations it
// shows, from org's and integration-sync's events.
package mappingsvc

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/mapping/internal/app"
	"github.com/orgplane/orgplane/services/mapping/internal/clients"
	"github.com/orgplane/orgplane/services/mapping/internal/grpcapi"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// Option adjusts the service for composition and tests.
type Option func(*options)

type options struct{ clock func() time.Time }

// WithClock makes page tokens age by now (tests move it forward).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// Spec describes the mapping service to the platform.
func Spec(opts ...Option) platform.Spec {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return platform.Spec{
		Name:             "mapping",
		DefaultGRPCAddr:  ":9102",
		DefaultAdminAddr: ":9202",
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Produces:         []proto.Message{&mappingv1.MappingLinked{}, &mappingv1.MappingUnlinked{}},
		Peers: []platform.Peer{{Name: "org", DefaultAddr: "127.0.0.1:9101"},
			{Name: "integration-sync", DefaultAddr: "127.0.0.1:9103"}},
		Routes: []platform.Route{mappingv1.RegisterMappingServiceHandler},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			pages := pagetoken.FromKeyring(d.Keys, "mapping page tokens")
			if o.clock != nil {
				pages = pages.WithClock(o.clock)
			}
			orgs := clients.Organizations{Client: orgv1.NewOrganizationServiceClient(d.Peers["org"]),
				Licensing: orgv1.NewLicenseServiceClient(d.Peers["org"])}
			integrations := clients.Integrations{Client: integrationsyncv1.NewIntegrationDirectoryServiceClient(d.Peers["integration-sync"])}
			svc := app.New(store.New(d.Pool), orgs, integrations, pages, d.Log)
			grpcapi.Register(d.Server, svc)
			return platform.Parts{Consumers: consumers(svc), Workers: []platform.Worker{svc.RunImports}}, nil
		},
	}
}

func consumers(svc *app.Service) []events.ConsumerSpec {
	org := func(ctx context.Context, tx pgx.Tx, account string, o *orgv1.Organization) error {
		return svc.OrganizationChanged(ctx, tx, account, o)
	}
	return []events.ConsumerSpec{
		{
			// A deleted organization's links go with it (ARCHITECTURE.md, flow 5).
			Durable: "mapping-links",
			Handlers: []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeleted) error {
				return svc.OrganizationDeleted(ctx, tx, ev.GetAccountId(), ev.GetOrganizationId())
			})},
			Concurrency: 4,
		},
		{
			// The grid's rows: names, parents, groups (visibility) and state, as org tells them.
			Durable: "mapping-organizations",
			Handlers: []events.Handler{
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationCreated) error {
					return org(ctx, tx, ev.GetAccountId(), ev.GetOrganization())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationUpdated) error {
					return org(ctx, tx, ev.GetAccountId(), ev.GetOrganization())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeactivated) error {
					return org(ctx, tx, ev.GetAccountId(), ev.GetOrganization())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationReactivated) error {
					return org(ctx, tx, ev.GetAccountId(), ev.GetOrganization())
				}),
				// In order with the updates above (one consumer, one account's events in order):
				// an update applied late never brings a deleted organization back.
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeleted) error {
					return svc.ForgetOrganization(ctx, tx, ev.GetOrganizationId())
				}),
			},
			Concurrency: 4,
		},
		{
			// The grid's columns and cells: integrations and their external organizations, and the
			// links the PSA sync asks for or ends.
			Durable: "mapping-externals",
			Handlers: []events.Handler{
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.IntegrationCreated) error {
					return svc.IntegrationCreated(ctx, tx, ev.GetAccountId(), ev.GetIntegrationId(), ev.GetKind())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.IntegrationDeleted) error {
					return svc.IntegrationDeleted(ctx, tx, ev.GetAccountId(), ev.GetIntegrationId())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.ExternalOrganizationCreated) error {
					return svc.ExternalChanged(ctx, tx, ev.GetAccountId(), ev.GetExternalOrganization(), ev.GetLinkOrganizationId())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.ExternalOrganizationChanged) error {
					return svc.ExternalChanged(ctx, tx, ev.GetAccountId(), ev.GetExternalOrganization(), ev.GetLinkOrganizationId())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.ExternalOrganizationOrphaned) error {
					return svc.ExternalChanged(ctx, tx, ev.GetAccountId(), ev.GetExternalOrganization(), "")
				}),
				// In order with the events above: a company forgotten is not brought back by an
				// older change of it.
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.ExternalOrganizationRemoved) error {
					return svc.ExternalRemoved(ctx, tx, ev)
				}),
			},
			Concurrency: 4,
		},
	}
}
