// Package orgsvc is the org service as a component: its cmd runs it alone, the dev stack and
// whole-suite tests compose it with the others.
package orgsvc

import (
	"context"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/account"
	"github.com/orgplane/orgplane/services/org/internal/grpcapi"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Spec describes the org service to the platform.
func Spec() platform.Spec {
	return platform.Spec{
		Name:             "org",
		DefaultGRPCAddr:  ":9101",
		DefaultAdminAddr: ":9201",
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Streams:          events.StreamsOf("org"),
		New: func(_ context.Context, d platform.Deps) ([]platform.Worker, error) {
			accounts := account.NewService(store.NewAccounts(d.Pool))
			orgv1.RegisterAccountServiceServer(d.Server, grpcapi.NewAccounts(accounts))
			return nil, nil
		},
	}
}
