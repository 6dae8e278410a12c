// Package billingsvc is the billing service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The billing service owns subscriptions, license changes and usage history. The limit itself
// is enforced by the org service, inside the transaction that creates or reactivates an
// organization; billing applies each change there before recording it.
package billingsvc

import (
	"context"
	"time"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/billing/internal/billing"
	"github.com/orgplane/orgplane/services/billing/internal/grpcapi"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

// Option adjusts the service for composition and tests.
type Option func(*options)

type options struct {
	clock func() time.Time
	cfg   billing.Config
}

// WithClock makes the service read time from now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithTrialLimit sets how many organizations a new account's trial allows (default 25).
func WithTrialLimit(n int32) Option { return func(o *options) { o.cfg.TrialLimit = n } }

// Spec describes the billing service to the platform.
func Spec(opts ...Option) platform.Spec {
	o := options{cfg: billing.Config{TrialLimit: 25, TrialDays: 30}}
	for _, f := range opts {
		f(&o)
	}
	return platform.Spec{
		Name:             "billing",
		DefaultGRPCAddr:  ":9105",
		DefaultAdminAddr: ":9205",
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Streams:          []events.Stream{{Service: "billing", Name: "ORGPLANE_BILLING", Subjects: []string{"orgplane.billing.v1.>"}}},
		Peers:            []string{"org"},
		New: func(_ context.Context, d platform.Deps) ([]platform.Worker, error) {
			enforcer := grpcapi.OrgEnforcer{Client: orgv1.NewLicenseServiceClient(d.Peers["org"])}
			svc := billing.New(d.Pool, enforcer, o.clock, o.cfg)
			grpcapi.Register(d.Server, svc)
			var workers []platform.Worker
			for _, spec := range svc.Consumers() {
				c, err := events.NewConsumer(d.JS, d.Pool, d.Log, spec)
				if err != nil {
					return nil, err
				}
				workers = append(workers, c.Run)
			}
			return workers, nil
		},
	}
}
