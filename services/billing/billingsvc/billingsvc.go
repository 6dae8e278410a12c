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
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/billing/internal/app"
	"github.com/orgplane/orgplane/services/billing/internal/clients"
	"github.com/orgplane/orgplane/services/billing/internal/grpcapi"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

// Settings are the billing service's own configuration, read like the platform's from ORGPLANE_*
// variables or --flags (see `billing --help`).
type Settings struct {
	TrialLimit     int32         `conf:"env:TRIAL_LIMIT,default:25,help:organizations a new account's trial allows"`
	TrialDays      int           `conf:"env:TRIAL_DAYS,default:30,help:length of a new account's trial in days"`
	OrgCallTimeout time.Duration `conf:"env:ORG_CALL_TIMEOUT,default:5s,help:how long one license change waits for the org service before it is left to the intent worker"`
}

// Option adjusts the service for composition and tests; options win over settings.
type Option func(*options)

type options struct {
	clock      func() time.Time
	trialLimit int32
}

// WithClock makes the service read time from now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithTrialLimit sets how many organizations a new account's trial allows, whatever
// ORGPLANE_TRIAL_LIMIT says.
func WithTrialLimit(n int32) Option { return func(o *options) { o.trialLimit = n } }

// Spec describes the billing service to the platform.
func Spec(opts ...Option) platform.Spec {
	var o options
	for _, f := range opts {
		f(&o)
	}
	settings := &Settings{}
	return platform.Spec{
		Name:             "billing",
		DefaultGRPCAddr:  ":9105",
		DefaultAdminAddr: ":9205",
		Config:           settings,
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Produces:         []proto.Message{&billingv1.SubscriptionChanged{}},
		Peers:            []platform.Peer{{Name: "org", DefaultAddr: "127.0.0.1:9101"}},
		Routes:           []platform.Route{billingv1.RegisterBillingServiceHandler},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			cfg := app.DefaultConfig()
			cfg.Trial.Limit, cfg.Trial.Days, cfg.CallTimeout = settings.TrialLimit, settings.TrialDays, settings.OrgCallTimeout
			if o.trialLimit != 0 {
				cfg.Trial.Limit = o.trialLimit
			}
			pages := pagetoken.FromKeyring(d.Keys, "billing page tokens")
			if o.clock != nil {
				pages = pages.WithClock(o.clock)
			}
			org := clients.NewOrg(orgv1.NewLicenseServiceClient(d.Peers["org"]))
			svc := app.New(store.New(d.Pool), org, o.clock, pages, cfg, d.Log)
			grpcapi.Register(d.Server, svc)
			// The intent worker applies license changes whose request could not (README: "No
			// remote call inside a transaction").
			return platform.Parts{Consumers: svc.Consumers(), Workers: []platform.Worker{svc.RunIntentWorker}}, nil
		},
	}
}
