// Package orgsvc is the org service as a component: its cmd runs it alone, the dev stack and
// whole-suite tests compose it with the others.
package orgsvc

import (
	"context"
	"time"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/grpcapi"
	"github.com/orgplane/orgplane/services/org/internal/registry"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Option adjusts the service for composition and tests.
type Option func(*options)

type options struct{ clock registry.Clock }

// WithClock makes the service read time from now (tests age organizations with it).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// Spec describes the org service to the platform.
func Spec(opts ...Option) platform.Spec {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return platform.Spec{
		Name:             "org",
		DefaultGRPCAddr:  ":9101",
		DefaultAdminAddr: ":9201",
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Streams:          events.StreamsOf("org"),
		New: func(_ context.Context, d platform.Deps) ([]platform.Worker, error) {
			pages := pagetoken.New(d.Keys.Derive("org page tokens"))
			grpcapi.Register(d.Server, registry.New(d.Pool, o.clock, pages), pages)
			return nil, nil
		},
	}
}
