// Package notificationsvc is the notification service as a component: its cmd runs it alone, the dev
// stack and whole-suite tests compose it with the others.
//
// The notification service tells people what happened: a review assigned to them or reassigned,
// a review's ownership changed, a new review, a review gone quiet, integration trouble; and it
// sends the invitation and password reset emails of sign-in, with a link org issues at send time.
// It learns everything from org's and integration-sync's events, keeps each user's in-app feed
// (with a live stream), sends email over SMTP with retries that outlast an outage, and records
// every delivery.
// Per-account settings say who else hears of what; per-user preferences turn kinds off per channel.
package notificationsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/accountstate"
	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/notification/internal/app"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/grpcapi"
	"github.com/orgplane/orgplane/services/notification/internal/signinlink"
	"github.com/orgplane/orgplane/services/notification/internal/smtpmail"
	"github.com/orgplane/orgplane/services/notification/internal/store"
	"github.com/orgplane/orgplane/services/notification/internal/unsubscribe"
)

// DefaultFrom is the sender when ORGPLANE_SMTP_FROM is not set.
const DefaultFrom = "Orgplane <notifications@orgplane.localhost>"

// Settings are the service's own configuration, read like the platform's from ORGPLANE_*
// variables or --flags (see `notification --help`). Help texts hold no commas (the tag syntax).
type Settings struct {
	SMTPAddr      string        `conf:"env:SMTP_ADDR,help:host:port of the SMTP relay emails go through; required unless ORGPLANE_EMAIL_DISABLED is true"`
	SMTPUsername  string        `conf:"env:SMTP_USERNAME,help:user for AUTH PLAIN at the relay (empty: no authentication)"`
	SMTPPassword  string        `conf:"env:SMTP_PASSWORD,mask,help:password for AUTH PLAIN at the relay"`
	SMTPFrom      string        `conf:"env:SMTP_FROM,help:the sender of every email (name and address; default Orgplane <notifications@orgplane.localhost>)"`
	SMTPTLS       string        `conf:"env:SMTP_TLS,flag:smtp-tls,default:starttls,help:starttls (the session must be upgraded) or tls (implicit TLS; usually port 465) or none (development relays only)"`
	EmailDisabled bool          `conf:"env:EMAIL_DISABLED,help:send no email: email deliveries are recorded as skipped (in-app notifications still work)"`
	WebBaseURL    string        `conf:"env:WEB_BASE_URL,default:http://localhost:8080,help:the web UI's address that links in emails start with"`
	DigestDelay   time.Duration `conf:"env:TROUBLE_DIGEST_DELAY,flag:trouble-digest-delay,default:5m,help:how long the first integration problem of a quiet account waits for others before its digest email"`
	DigestEvery   time.Duration `conf:"env:TROUBLE_DIGEST_INTERVAL,flag:trouble-digest-interval,default:1h,help:the least time between two integration trouble digests of one account"`
	MaxAttempts   int           `conf:"env:EMAIL_MAX_ATTEMPTS,flag:email-max-attempts,default:10,help:tries after which an email the relay keeps refusing is recorded as failed (an unreachable relay never counts)"`
}

// MailOptions say how to reach the SMTP relay (WithMail); they win over the ORGPLANE_SMTP_*
// settings.
type MailOptions struct {
	// Addr is host:port.
	Addr     string
	Username string
	Password string
	// From is the sender ("Name <address>"); empty: DefaultFrom.
	From string
	// TLS is starttls (empty means this), tls or none.
	TLS string
}

// Option adjusts the service for composition and tests; options win over settings.
type Option func(*options)

type options struct {
	accounts app.Accounts
	clock    func() time.Time
	mail     *MailOptions
	webBase  string
	cfg      func(*app.Config)
}

// WithMail sets the SMTP relay (the dev stack's mail sink, a test's).
func WithMail(m MailOptions) Option { return func(o *options) { o.mail = &m } }

// WithWebBaseURL sets the web UI's address that links in emails start with.
func WithWebBaseURL(u string) Option { return func(o *options) { o.webBase = u } }

// WithClock makes records and page tokens read time from now (tests move it). Queues, leases
// and schedules keep to the database's clock, which every replica shares.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithAccounts answers whether an account may change anything in org's stead (tests that run
// the service without org; the whole-suite tests ask the real one).
func WithAccounts(a app.Accounts) Option { return func(o *options) { o.accounts = a } }

// WithConfig adjusts the workers' configuration after the settings are applied (tests shorten
// waits and intervals).
func WithConfig(f func(*app.Config)) Option { return func(o *options) { o.cfg = f } }

// Spec describes the notification service to the platform.
func Spec(opts ...Option) platform.Spec {
	var o options
	for _, f := range opts {
		f(&o)
	}
	settings := &Settings{}
	config := func() app.Config {
		cfg := app.DefaultConfig()
		if settings.WebBaseURL != "" {
			cfg.WebBaseURL = settings.WebBaseURL
		}
		if o.webBase != "" {
			cfg.WebBaseURL = o.webBase
		}
		if settings.DigestDelay > 0 {
			cfg.DigestDelay = settings.DigestDelay
		}
		if settings.DigestEvery > 0 {
			cfg.DigestInterval = settings.DigestEvery
		}
		if settings.MaxAttempts > 0 {
			cfg.MaxAttempts = settings.MaxAttempts
		}
		cfg.EmailDisabled = settings.EmailDisabled && o.mail == nil
		if o.cfg != nil {
			o.cfg(&cfg)
		}
		return cfg
	}
	mailer := func(cfg app.Config) (app.Mailer, error) {
		if cfg.EmailDisabled {
			return nil, nil
		}
		m := MailOptions{Addr: settings.SMTPAddr, Username: settings.SMTPUsername, Password: settings.SMTPPassword,
			From: settings.SMTPFrom, TLS: settings.SMTPTLS}
		if o.mail != nil {
			m = *o.mail
		}
		if m.Addr == "" {
			return nil, errors.New(platform.EnvPrefix + "_SMTP_ADDR is required (the SMTP relay, host:port); set " +
				platform.EnvPrefix + "_EMAIL_DISABLED=true to run without email")
		}
		if m.From == "" {
			m.From = DefaultFrom
		}
		sender, err := smtpmail.New(smtpmail.Config{Addr: m.Addr, Username: m.Username, Password: m.Password, From: m.From, TLS: m.TLS})
		if err != nil {
			return nil, fmt.Errorf("%s_SMTP_*: %w", platform.EnvPrefix, err)
		}
		return sender, nil
	}
	return platform.Spec{
		Name:             "notification",
		DefaultGRPCAddr:  ":9104",
		DefaultAdminAddr: ":9204",
		Config:           settings,
		Migrations:       []postgres.MigrationSet{store.Migrations()},
		Routes:           []platform.Route{notificationv1.RegisterNotificationServiceHandler},
		// org answers whether an account may change anything (its subscription's state), and
		// issues the links of invitation and password reset emails.
		Peers: []platform.Peer{{Name: "org", DefaultAddr: "127.0.0.1:9101"}},
		New: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			cfg := config()
			var m app.Mailer
			if d.Pool != nil {
				// Built with inert dependencies (to derive NATS permissions) nothing is sent.
				var err error
				if m, err = mailer(cfg); err != nil {
					return platform.Parts{}, err
				}
			}
			pages := pagetoken.FromKeyring(d.Keys, "notification page tokens")
			if o.clock != nil {
				pages = pages.WithClock(o.clock)
			}
			st := store.New(d.Pool)
			var accounts app.Accounts = accountstate.Checker{Client: orgv1.NewLicenseServiceClient(d.Peers["org"]), Self: "notification"}
			if o.accounts != nil {
				accounts = o.accounts
			}
			var links app.LinkIssuer
			if conn := d.Peers["org"]; conn != nil {
				links = signinlink.Issuer{Client: orgv1.NewSignInAuthServiceClient(conn)}
			}
			svc := app.New(st, m, unsubscribe.FromKeyring(d.Keys), pages, accounts, links, cfg, o.clock, d.Log)
			grpcapi.Register(d.Server, svc)
			return platform.Parts{Consumers: consumers(svc, st),
				Workers: []platform.Worker{svc.RunSender, svc.RunReminders, svc.RunDigests, svc.RunFeedListener}}, nil
		},
	}
}

// consumers are the service's inputs. All of org's events go through one consumer, so one
// account's events apply in order: a user is known before the review assigned to them minutes
// later is told.
func consumers(svc *app.Service, st *store.Store) []events.ConsumerSpec {
	user := func(ctx context.Context, tx pgx.Tx, account string, u *orgv1.User, admin bool, at time.Time) error {
		if u.GetId() == "" {
			return events.Permanent(errors.New("user event without a user"))
		}
		return svc.UserChanged(ctx, st.Within(tx), account, domain.User{ID: u.GetId(), Email: u.GetEmail(), FirstName: u.GetFirstName(),
			LastName: u.GetLastName(), Active: u.GetActive(), Administrator: admin, AllOrganizations: u.GetAllOrganizations(),
			GroupIDs: u.GetGroupIds()}, at)
	}
	organization := func(ctx context.Context, tx pgx.Tx, o *orgv1.Organization) error {
		return svc.OrganizationChanged(ctx, st.Within(tx), o.GetId(), o.GetName(), o.GetGroupIds())
	}
	signInLink := func(ctx context.Context, tx pgx.Tx, account string, l app.SignInLink) error {
		if uuid.Validate(l.LinkID) != nil || uuid.Validate(l.UserID) != nil {
			return events.Permanent(fmt.Errorf("%s event without a valid link and user id", l.Kind.Name()))
		}
		return svc.SignInLinkRequested(ctx, st.Within(tx), account, l)
	}
	trouble := func(ctx context.Context, tx pgx.Tx, account, eventID, integration, what, detail string, at time.Time) error {
		return svc.Trouble(ctx, st.Within(tx), account, store.Trouble{EventID: eventID, IntegrationID: integration, What: what,
			Detail: detail, At: at})
	}
	return []events.ConsumerSpec{
		{
			Durable: "notification-org",
			Handlers: []events.Handler{
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountCreated) error {
					return svc.AccountCreated(ctx, st.Within(tx), ev.GetAccountId(), ev.GetDisplayName(), ev.GetOccurredAt().AsTime())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountSettingsUpdated) error {
					s := ev.GetSettings()
					return svc.AccountSettingsChanged(ctx, st.Within(tx), domain.Account{ID: ev.GetAccountId(), DisplayName: s.GetCompanyName(),
						TimeZone: s.GetTimeZone(), DateFormat: domain.DateFormat(s.GetDateFormat()),
						OwnershipRecipientIDs: s.GetAssignOwnershipRecipientIds(), ReviewRecipientIDs: s.GetAssignReviewsRecipientIds()},
						ev.GetOccurredAt().AsTime())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.UserCreated) error {
					return user(ctx, tx, ev.GetAccountId(), ev.GetUser(), ev.GetAdministrator(), ev.GetOccurredAt().AsTime())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.UserUpdated) error {
					return user(ctx, tx, ev.GetAccountId(), ev.GetUser(), ev.GetAdministrator(), ev.GetOccurredAt().AsTime())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.UserInvited) error {
					return signInLink(ctx, tx, ev.GetAccountId(), app.SignInLink{EventID: ev.GetEventId(), Kind: domain.KindInvitation,
						LinkID: ev.GetInvitationId(), UserID: ev.GetUserId()})
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.PasswordResetRequested) error {
					return signInLink(ctx, tx, ev.GetAccountId(), app.SignInLink{EventID: ev.GetEventId(), Kind: domain.KindPasswordReset,
						LinkID: ev.GetResetId(), UserID: ev.GetUserId()})
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationUpdated) error {
					return organization(ctx, tx, ev.GetOrganization())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeleted) error {
					return svc.OrganizationDeleted(ctx, st.Within(tx), ev.GetOrganizationId())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.ReviewCreated) error {
					r := ev.GetReview()
					if r.GetId() == "" {
						return events.Permanent(errors.New("review.created without a review"))
					}
					return svc.ReviewCreated(ctx, st.Within(tx), ev.GetAccountId(), app.NewReview{EventID: ev.GetEventId(),
						Review: domain.Review{ID: r.GetId(), OrganizationID: r.GetOrganizationId(), OrganizationName: ev.GetOrganizationName(),
							OrganizationGroupIDs: ev.GetOrganizationGroupIds(), Title: r.GetTitle(), EngineerID: r.GetEngineerId(),
							VCIOID: r.GetVcioId(), EditedAt: ev.GetOccurredAt().AsTime()},
						EngineerDue: r.GetEngineerDueDate(), VCIODue: r.GetVcioDueDate()})
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.ReviewOwnerChanged) error {
					var role string
					switch ev.GetRole() {
					case orgv1.ReviewRole_REVIEW_ROLE_ENGINEER:
						role = "engineer"
					case orgv1.ReviewRole_REVIEW_ROLE_VCIO:
						role = "vcio"
					default:
						return events.Permanent(fmt.Errorf("review.owner_changed with role %v", ev.GetRole()))
					}
					return svc.ReviewOwnerChanged(ctx, st.Within(tx), ev.GetAccountId(), app.OwnerChange{EventID: ev.GetEventId(),
						Review: domain.Review{ID: ev.GetReviewId(), OrganizationID: ev.GetOrganizationId(), OrganizationName: ev.GetOrganizationName(),
							Title: ev.GetReviewTitle()},
						Role: role, Previous: ev.GetPreviousAssigneeId(), New: ev.GetNewAssigneeId(), DueDate: ev.GetDueDate(),
						ChangedBy: ev.GetChangedBy(), ChangedAt: ev.GetOccurredAt().AsTime(), OrgGroupIDs: ev.GetOrganizationGroupIds()})
				}),
			},
			Concurrency: 4,
		},
		{
			// Integration trouble, batched into digests by the digest workers.
			Durable: "notification-integrations",
			Handlers: []events.Handler{
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.IntegrationStateChanged) error {
					if ev.GetState() != integrationsyncv1.IntegrationState_INTEGRATION_STATE_CREDENTIALS_REJECTED ||
						ev.GetPreviousState() == integrationsyncv1.IntegrationState_INTEGRATION_STATE_CREDENTIALS_REJECTED {
						return nil
					}
					return trouble(ctx, tx, ev.GetAccountId(), ev.GetEventId(), ev.GetIntegrationId(), "credentials_rejected",
						joinDetail(ev.GetKind(), ev.GetMessage()), ev.GetOccurredAt().AsTime())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.RefreshFinished) error {
					op := ev.GetOperation()
					if op.GetState() != integrationsyncv1.OperationState_OPERATION_STATE_FAILED {
						return nil
					}
					return trouble(ctx, tx, ev.GetAccountId(), ev.GetEventId(), op.GetIntegrationId(), "refresh_failed",
						op.GetError().GetMessage(), ev.GetOccurredAt().AsTime())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.ExternalOrganizationOrphaned) error {
					e := ev.GetExternalOrganization()
					return trouble(ctx, tx, ev.GetAccountId(), ev.GetEventId(), e.GetIntegrationId(), "orphaned",
						joinDetail(e.GetIntegrationKind(), e.GetName()), ev.GetOccurredAt().AsTime())
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.SyncFailed) error {
					return trouble(ctx, tx, ev.GetAccountId(), ev.GetEventId(), ev.GetIntegrationId(), "sync_failed",
						ev.GetReason(), ev.GetOccurredAt().AsTime())
				}),
			},
			Concurrency: 2,
		},
	}
}

// joinDetail is "<tool>: <words>", or whichever of the two there is.
func joinDetail(kind, words string) string {
	switch {
	case kind == "":
		return words
	case words == "":
		return kind
	}
	return kind + ": " + words
}
