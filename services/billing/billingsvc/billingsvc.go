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

	"google.golang.org/protobuf/proto"

	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/billing/internal/app"
	"github.com/orgplane/orgplane/services/billing/internal/clients"
	"github.com/orgplane/orgplane/services/billing/internal/grpcapi"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

// Option adjusts the service for composition and tests.
type Option func(*options)

type options struct {
	clock func() time.Time
	cfg   app.Config
}

// WithClock makes the service read time from now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithTrialLimit sets how many organizations a new account's trial allows (default 25).
func WithTrialLimit(n int32) Option { return func(o *options) { o.cfg.Trial.Limit = n } }

// Spec describes the billing service to the platform.
func Spec(opts ...Option) platform.Spec {
	o := options{cfg: app.DefaultConfig()}
	for _, f := range opts {
		f(&o)
	}
	return platform.Spec{
		Name:             "billing",
		DefaultGRPCAddr:  ":9105",
		DefaultAdminAddr: ":9205",
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Produces:         []proto.Message{&billingv1.SubscriptionChanged{}},
		Peers:            []platform.Peer{{Name: "org", DefaultAddr: "127.0.0.1:9101"}},
		Routes:           []platform.Route{billingv1.RegisterBillingServiceHandler},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			org := clients.NewOrg(orgv1.NewLicenseServiceClient(d.Peers["org"]))
			svc := app.New(store.New(d.Pool), org, o.clock, o.cfg, d.Log)
			grpcapi.Register(d.Server, svc)
			// The intent worker applies license changes whose request could not (README: "No
			// remote call inside a transaction").
			return platform.Parts{Consumers: svc.Consumers(), Workers: []platform.Worker{svc.RunIntentWorker}}, nil
		},
	}
}
