// Package orgsvc is the org service as a component: its cmd runs it alone, the dev stack and
// whole-suite tests compose it with the others.
package orgsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/grpcapi"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Settings are the org service's own configuration, read like the platform's from ORGPLANE_*
// variables or --flags (see `org --help`).
type Settings struct {
	LicenseMetricsAccounts int `conf:"env:LICENSE_METRICS_ACCOUNTS,default:50,help:how many accounts nearest their license limit the orgplane_license_*_organizations metrics report (one series each)"`
	// Sign-in for people. Zero (a Settings built in code) means the default.
	SessionIdleTimeout time.Duration `conf:"env:SESSION_IDLE_TIMEOUT,flag:session-idle-timeout,default:2h,help:a sign-in session unused this long ends"`
	SessionMaxAge      time.Duration `conf:"env:SESSION_MAX_AGE,flag:session-max-age,default:12h,help:a sign-in session ends this long after it was opened, however much it is used"`
	InvitationTTL      time.Duration `conf:"env:INVITATION_TTL,flag:invitation-ttl,default:72h,help:how long an invitation link to set a first password works"`
	PasswordResetTTL   time.Duration `conf:"env:PASSWORD_RESET_TTL,flag:password-reset-ttl,default:1h,help:how long a password reset link works"`
	// Two-step verification and single sign-on keep secrets (TOTP secrets, the identity
	// provider's client secret) that the service must read back, so they are encrypted.
	// WebBaseURL is the web UI's address (the gateway's): single sign-on's redirect URI, to
	// register at the identity provider, is this + /v1/singleSignOn/callback. The notification
	// service reads the same variable for the links in emails.
	WebBaseURL     string `conf:"env:WEB_BASE_URL,default:http://localhost:8080,help:the web UI's address (the gateway's); single sign-on's redirect URI is this followed by /v1/singleSignOn/callback"`
	CredentialKeys string `conf:"env:CREDENTIAL_KEYS,flag:credential-keys,mask,help:AES-256 keys that encrypt TOTP secrets and single sign-on client secrets: id:base64(32 bytes) entries separated by commas; the last one encrypts and any decrypts (add a new one last then run the rotate command). Without it two-step verification and single sign-on are unavailable"`
}

// credentialKeys is the keyring the settings (or the option) name; nil when neither does.
func (s *Settings) credentialKeys(override string) (*secrets.Keyring, error) {
	spec := s.CredentialKeys
	if override != "" {
		spec = override
	}
	if spec == "" {
		return nil, nil
	}
	return secrets.ParseKeyring(spec)
}

// signInTimeouts are the settings' sign-in timeouts; a negative one is refused by its variable.
func (s *Settings) signInTimeouts() (domain.SignInTimeouts, error) {
	for name, d := range map[string]time.Duration{"ORGPLANE_SESSION_IDLE_TIMEOUT": s.SessionIdleTimeout,
		"ORGPLANE_SESSION_MAX_AGE": s.SessionMaxAge, "ORGPLANE_INVITATION_TTL": s.InvitationTTL, "ORGPLANE_PASSWORD_RESET_TTL": s.PasswordResetTTL} {
		if d < 0 {
			return domain.SignInTimeouts{}, fmt.Errorf("%s: %v is negative; give a duration such as 2h", name, d)
		}
	}
	return domain.SignInTimeouts{SessionIdle: s.SessionIdleTimeout, SessionMaxAge: s.SessionMaxAge,
		Invitation: s.InvitationTTL, PasswordReset: s.PasswordResetTTL}.WithDefaults(), nil
}

// Option adjusts the service for composition and tests.
type Option func(*options)

type options struct {
	clock   domain.Clock
	keys    string
	webBase string
}

// WithWebBaseURL sets the web UI's address single sign-on's redirect URI starts with (it wins
// over ORGPLANE_WEB_BASE_URL).
func WithWebBaseURL(u string) Option { return func(o *options) { o.webBase = u } }

// WithCredentialKeys sets the keyring TOTP and client secrets are encrypted with (the dev
// stack generates and keeps one).
func WithCredentialKeys(spec string) Option { return func(o *options) { o.keys = spec } }

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
			&orgv1.UserInvited{}, &orgv1.PasswordResetRequested{}, &orgv1.UserBreakGlassSignedIn{},
		},
		// LicenseService, AuthService, SignInAuthService and OrganizationSyncService have no
		// REST routes: billing, the gateway, notification and integration-sync call them.
		Routes: []platform.Route{
			orgv1.RegisterAccountServiceHandler, orgv1.RegisterAccessServiceHandler,
			orgv1.RegisterOrganizationServiceHandler, orgv1.RegisterReviewServiceHandler,
			orgv1.RegisterSignInServiceHandler, orgv1.RegisterSingleSignOnServiceHandler,
		},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			// The org service's clock ages page tokens too, so tests can expire them.
			pages := pagetoken.FromKeyring(d.Keys, "org page tokens").WithClock(o.clock)
			st := store.New(d.Pool)
			timeouts, err := settings.signInTimeouts()
			if err != nil {
				return platform.Parts{}, err
			}
			keys, err := settings.credentialKeys(o.keys)
			if err != nil {
				return platform.Parts{}, err
			}
			webBase := settings.WebBaseURL
			if o.webBase != "" {
				webBase = o.webBase
			}
			svc := app.New(st, o.clock, pages).WithSignInTimeouts(timeouts).WithSecrets(keys).WithSingleSignOn(webBase)
			grpcapi.RegisterAccounts(d.Server, svc)
			grpcapi.RegisterAccess(d.Server, svc)
			grpcapi.RegisterAuth(d.Server, svc)
			grpcapi.RegisterOrganizations(d.Server, svc)
			grpcapi.RegisterReviews(d.Server, svc)
			grpcapi.RegisterLicenses(d.Server, svc)
			grpcapi.RegisterSync(d.Server, svc)
			grpcapi.RegisterSignIn(d.Server, svc)
			grpcapi.RegisterSingleSignOn(d.Server, svc)
			return platform.Parts{Consumers: consumers(svc),
				Workers: []platform.Worker{licenseMetrics(st, settings.LicenseMetricsAccounts, d.Log)}}, nil
		},
		Commands: map[string]platform.Command{
			"rotate": {
				Help: "re-encrypt every TOTP secret, single sign-on client secret and sign-in flow verifier with the newest of ORGPLANE_CREDENTIAL_KEYS",
				Run: func(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
					keys, err := settings.credentialKeys(o.keys)
					if err != nil {
						return err
					}
					if keys == nil {
						return errors.New(secrets.EnvKeys + " is required: rotate re-encrypts with its newest key")
					}
					r, err := app.New(store.New(pool), o.clock, nil).WithSecrets(keys).Rotate(ctx)
					// What was done is said even when something could not be: each batch committed.
					log.Info("sealed secrets re-encrypted", "key", keys.Newest(), "accounts", r.Accounts,
						"totp_enrollments", r.TOTPSecrets, "sso_providers", r.ClientSecrets, "sso_flows", r.FlowVerifiers,
						"already_current", r.Current, "unopenable", r.Unopenable)
					if err != nil {
						return fmt.Errorf("rotate sealed secrets: %w", err)
					}
					return nil
				},
			},
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
