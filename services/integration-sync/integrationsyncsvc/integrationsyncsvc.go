// Package integrationsyncsvc is the integration-sync service as a component: its cmd runs it
// alone, the dev stack and whole-suite tests compose it with the others.
//
// The integration-sync service connects an account to IT Glue, ConnectWise PSA, Autotask PSA and
// any tool with a JSON list of organizations; keeps a copy of each tool's organizations,
// refreshed within the vendor's rate budget; and notices organizations gone on the other side.
package integrationsyncsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/events"
	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/clients"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/autotask"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/connectwise"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/generic"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/itglue"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/grpcapi"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// Settings are the service's own configuration, read like the platform's from ORGPLANE_*
// variables or --flags (see `integration-sync --help`).
type Settings struct {
	CredentialKeys      string        `conf:"env:CREDENTIAL_KEYS,mask,help:AES-256 keys that encrypt integration credentials: id:base64(32 bytes) entries separated by commas; the last one encrypts and any decrypts (add a new one last then run the rotate command)"`
	FullRefresh         time.Duration `conf:"env:REFRESH_FULL_INTERVAL,flag:refresh-full-interval,default:24h,help:how often every integration gets a full refresh (which also finds orphans)"`
	IncrementalRefresh  time.Duration `conf:"env:REFRESH_INCREMENTAL_INTERVAL,flag:refresh-incremental-interval,default:15m,help:how often an incremental refresh runs between full ones"`
	RefreshLease        time.Duration `conf:"env:REFRESH_LEASE,default:30s,help:how long a refresh held by a crashed process waits before another process resumes it"`
	RefreshWorkers      int           `conf:"env:REFRESH_WORKERS,default:4,help:how many refreshes one process runs at once"`
	StopAfterAuthErrors int           `conf:"env:STOP_AFTER_AUTH_FAILURES,flag:stop-after-auth-failures,default:3,help:consecutive credential refusals after which calls to a tool stop until its credentials are updated"`
}

// Option adjusts the service for composition and tests; options win over settings.
type Option func(*options)

type options struct {
	clock func() time.Time
	keys  string
	cfg   func(*app.Config)
}

// WithClock makes page tokens age by now (tests move it forward). Leases, schedules and rate
// budgets keep to the database's clock, which every replica shares.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithCredentialKeys sets the credential keyring (the dev stack generates and keeps one).
func WithCredentialKeys(spec string) Option { return func(o *options) { o.keys = spec } }

// WithConfig adjusts the workers' configuration after the settings are applied (tests shorten
// leases and intervals).
func WithConfig(f func(*app.Config)) Option { return func(o *options) { o.cfg = f } }

// Kinds are the kinds of tool the service can connect: each one file set against the one
// connector interface.
func Kinds() connector.Registry {
	r := connector.Registry{}
	r.Register(itglue.Kind())
	r.Register(connectwise.Kind())
	r.Register(autotask.Kind())
	r.Register(generic.Kind())
	return r
}

// Spec describes the integration-sync service to the platform.
func Spec(opts ...Option) platform.Spec {
	var o options
	for _, f := range opts {
		f(&o)
	}
	settings := &Settings{}
	config := func() app.Config {
		cfg := app.DefaultConfig()
		if settings.FullRefresh > 0 {
			cfg.FullInterval = settings.FullRefresh
		}
		if settings.IncrementalRefresh > 0 {
			cfg.IncrementalInterval = settings.IncrementalRefresh
		}
		if settings.RefreshLease > 0 {
			cfg.Lease = settings.RefreshLease
		}
		if settings.RefreshWorkers > 0 {
			cfg.Workers = settings.RefreshWorkers
		}
		if settings.StopAfterAuthErrors > 0 {
			cfg.StopAfterAuthFailures = settings.StopAfterAuthErrors
		}
		if o.cfg != nil {
			o.cfg(&cfg)
		}
		return cfg
	}
	keyring := func(inert bool) (*secrets.Keyring, error) {
		spec := settings.CredentialKeys
		if o.keys != "" {
			spec = o.keys
		}
		if spec == "" {
			if !inert {
				return nil, errors.New(platform.EnvPrefix + "_CREDENTIAL_KEYS is required: integration credentials are encrypted with it")
			}
			// Built with inert dependencies (to derive NATS permissions): nothing is sealed.
			spec = secrets.GenerateSpec("inert")
		}
		return secrets.ParseKeyring(spec)
	}
	build := func(pool *pgxpool.Pool, accounts app.Accounts, orgs app.Organizations, keys *secrets.Keyring, pages *pagetoken.Sealer, log *slog.Logger) (*app.Service, *budget.Budgets) {
		b := budget.New(pool)
		return app.New(store.New(pool), accounts, orgs, keys, Kinds(), b, pages, config(), log), b
	}
	return platform.Spec{
		Name:             "integration-sync",
		DefaultGRPCAddr:  ":9103",
		DefaultAdminAddr: ":9203",
		Config:           settings,
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Produces: []proto.Message{&integrationsyncv1.IntegrationCreated{}, &integrationsyncv1.IntegrationDeleted{},
			&integrationsyncv1.IntegrationStateChanged{}, &integrationsyncv1.RefreshFinished{},
			&integrationsyncv1.ExternalOrganizationCreated{}, &integrationsyncv1.ExternalOrganizationChanged{},
			&integrationsyncv1.ExternalOrganizationOrphaned{}, &integrationsyncv1.ExternalOrganizationRemoved{},
			&integrationsyncv1.OrganizationSyncChanged{}, &integrationsyncv1.SyncFailed{}},
		// org answers whether an account may change anything (its subscription's state).
		Peers:  []platform.Peer{{Name: "org", DefaultAddr: "127.0.0.1:9101"}},
		Routes: []platform.Route{integrationsyncv1.RegisterIntegrationServiceHandler},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			keys, err := keyring(d.Pool == nil)
			if err != nil {
				return platform.Parts{}, err
			}
			accounts := clients.NewAccounts(orgv1.NewLicenseServiceClient(d.Peers["org"]))
			pages := pagetoken.FromKeyring(d.Keys, "integration-sync page tokens")
			if o.clock != nil {
				pages = pages.WithClock(o.clock)
			}
			orgs := clients.Organizations{Orgs: orgv1.NewOrganizationServiceClient(d.Peers["org"]),
				Sync: orgv1.NewOrganizationSyncServiceClient(d.Peers["org"])}
			svc, budgets := build(d.Pool, accounts, orgs, keys, pages, d.Log)
			grpcapi.Register(d.Server, svc)
			return platform.Parts{Consumers: consumers(svc, d.Pool), Workers: []platform.Worker{svc.RunOperations, svc.RunScheduler,
				svc.RunDeliveryRetries, svc.RunSync,
				func(ctx context.Context) error {
					// The budget's concurrency slots live on one held connection; it goes with the service.
					<-ctx.Done()
					budgets.Close()
					return nil
				}}}, nil
		},
		Commands: map[string]platform.Command{
			"rotate": {
				Help: "re-encrypt every integration credential with the newest of ORGPLANE_CREDENTIAL_KEYS",
				Run: func(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
					keys, err := keyring(false)
					if err != nil {
						return err
					}
					svc, budgets := build(pool, nil, nil, keys, nil, log)
					defer budgets.Close()
					n, err := svc.Rotate(ctx)
					if err != nil {
						return fmt.Errorf("rotate credentials: %w", err)
					}
					log.Info("credentials re-encrypted", "count", n, "key", keys.Newest())
					return nil
				},
			},
		},
	}
}

// consumers are the PSA sync's inputs: Orgplane's organizations (what to push), and mapping's
// links (which pairs sync).
func consumers(svc *app.Service, pool *pgxpool.Pool) []events.ConsumerSpec {
	st := store.New(pool)
	org := func(ctx context.Context, tx pgx.Tx, account string, o *orgv1.Organization, at *timestamppb.Timestamp, by string) error {
		if o.GetId() == "" {
			return events.Permanent(errors.New("organization event without an organization"))
		}
		return svc.OrganizationChanged(ctx, st.Within(tx), domain.Organization{AccountID: account, ID: o.GetId(), Name: o.GetName(),
			TypeID: o.GetTypeId(), StatusID: o.GetStatusId(), ParentID: o.GetParentId(), Active: o.GetDeactivateTime() == nil,
			GroupIDs: o.GetGroupIds(), Changed: at.AsTime()}, by)
	}
	return []events.ConsumerSpec{
		{
			// One consumer for every organization event: one account's events apply in order, so a
			// late update never brings a deleted organization back.
			Durable: "integration-sync-organizations",
			Handlers: []events.Handler{
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationCreated) error {
					return org(ctx, tx, ev.GetAccountId(), ev.GetOrganization(), ev.GetOccurredAt(), ev.GetChangedBy())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationUpdated) error {
					return org(ctx, tx, ev.GetAccountId(), ev.GetOrganization(), ev.GetOccurredAt(), ev.GetChangedBy())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeactivated) error {
					if err := org(ctx, tx, ev.GetAccountId(), ev.GetOrganization(), ev.GetOccurredAt(), ev.GetChangedBy()); err != nil {
						return err
					}
					return svc.LicenseMayHaveFreed(ctx, st.Within(tx))
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationReactivated) error {
					return org(ctx, tx, ev.GetAccountId(), ev.GetOrganization(), ev.GetOccurredAt(), ev.GetChangedBy())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeleted) error {
					return svc.OrganizationDeleted(ctx, st.Within(tx), ev.GetAccountId(), ev.GetOrganizationId())
				}),
			},
			Concurrency: 4,
		},
		{
			// More licenses: companies waiting for one are tried at once.
			Durable: "integration-sync-subscriptions",
			Handlers: []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *billingv1.SubscriptionChanged) error {
				return svc.LicenseMayHaveFreed(ctx, st.Within(tx))
			})},
			Concurrency: 2,
		},
		{
			Durable: "integration-sync-links",
			Handlers: []events.Handler{
				events.On(func(ctx context.Context, tx pgx.Tx, ev *mappingv1.MappingLinked) error {
					l := ev.GetLink()
					if p := ev.GetPreviousExternalOrganizationId(); p != "" {
						if err := svc.Unlinked(ctx, st.Within(tx), ev.GetAccountId(), l.GetIntegrationId(), p, l.GetOrganizationId()); err != nil {
							return err
						}
					}
					return svc.Linked(ctx, st.Within(tx), ev.GetAccountId(), l.GetIntegrationId(), l.GetExternalOrganizationId(), l.GetOrganizationId())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *mappingv1.MappingUnlinked) error {
					l := ev.GetLink()
					return svc.Unlinked(ctx, st.Within(tx), ev.GetAccountId(), l.GetIntegrationId(), l.GetExternalOrganizationId(), l.GetOrganizationId())
				}),
			},
			Concurrency: 4,
		},
	}
}
