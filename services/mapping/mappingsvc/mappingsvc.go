// Package mappingsvc is the mapping service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The mapping service owns the links between Orgplane organizations and their twins in
// integrated tools (and, with the issues to come, the Setup Organizations grid and imports).
package mappingsvc

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/events"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/mapping/internal/app"
	"github.com/orgplane/orgplane/services/mapping/internal/clients"
	"github.com/orgplane/orgplane/services/mapping/internal/grpcapi"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// Spec describes the mapping service to the platform.
func Spec() platform.Spec {
	return platform.Spec{
		Name:             "mapping",
		DefaultGRPCAddr:  ":9102",
		DefaultAdminAddr: ":9202",
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Peers:            []platform.Peer{{Name: "org", DefaultAddr: "127.0.0.1:9101"}},
		Routes:           []platform.Route{mappingv1.RegisterMappingServiceHandler},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			svc := app.New(store.New(d.Pool), clients.Organizations{Client: orgv1.NewOrganizationServiceClient(d.Peers["org"])})
			grpcapi.Register(d.Server, svc)
			return platform.Parts{Consumers: []events.ConsumerSpec{{
				// A deleted organization's links go with it (ARCHITECTURE.md, flow 5).
				Durable: "mapping-links",
				Handlers: []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeleted) error {
					return svc.OrganizationDeleted(ctx, tx, ev.GetOrganizationId())
				})},
				Concurrency: 4,
			}}}, nil
		},
	}
}
