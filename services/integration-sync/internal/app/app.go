// Package app is integration-sync's use cases: permission, then the transaction (store, domain,
// outbox), and vendor calls only outside any transaction: a refresh reads a page from the tool,
// then records it and its checkpoint in one transaction.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
	"github.com/orgplane/orgplane/services/integration-sync/internal/transport"
)

// Config tunes the workers.
type Config struct {
	// FullInterval is how often every integration gets a full refresh; IncrementalInterval how
	// often an incremental one in between.
	FullInterval, IncrementalInterval time.Duration
	// Lease is how long a worker holds an operation without renewing it: a crashed worker's
	// refresh is resumed by another (or the restarted one) after at most this long.
	Lease time.Duration
	// Poll is how often idle workers look for due work.
	Poll time.Duration
	// Workers is how many refreshes one process runs at once.
	Workers int
	// SyncWorkers is how many sync tasks (pushes to a PSA, pulls into Orgplane) one process
	// runs at once; the integration's rate budget, shared by every replica, is the real limit.
	SyncWorkers int
	// StopAfterAuthFailures stops calling a tool after this many refusals in a row.
	StopAfterAuthFailures int
	// HTTP is the transport under every connector's budget (tests, proxies); nil is the default.
	HTTP http.RoundTripper
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	return Config{FullInterval: 24 * time.Hour, IncrementalInterval: 15 * time.Minute, Lease: 30 * time.Second,
		Poll: time.Second, Workers: 4, SyncWorkers: 8, StopAfterAuthFailures: 3}
}

// Accounts is the org service as integration-sync needs it.
type Accounts interface {
	// Writable reports whether the account may change anything: false while its subscription
	// is canceled or past due.
	Writable(ctx context.Context, accountID string) (bool, error)
}

// Organizations is the org service as the PSA sync needs it. The Synced methods act as the
// sync of integrationID (org records that as the author, and the sync never sends a PSA its
// own change back); Delete acts as the caller in ctx, whose permissions org checks.
type Organizations interface {
	CreateSynced(ctx context.Context, accountID, integrationID, requestID string, o domain.Organization) (string, error)
	UpdateSynced(ctx context.Context, accountID, integrationID, organizationID string, ch domain.OrgChanges) error
	DeleteSynced(ctx context.Context, accountID, integrationID, organizationID string) ([]string, error)
	Delete(ctx context.Context, accountID, organizationID string) ([]string, error)
}

// Service runs the integration-sync use cases.
type Service struct {
	store    *store.Store
	accounts Accounts
	orgs     Organizations
	keys     *secrets.Keyring
	kinds    connector.Registry
	budgets  *budget.Budgets
	pages    *pagetoken.Sealer
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	owner    string
	wake     chan struct{}
	syncWake chan struct{}
	conns    connectorCache
}

// New returns a Service.
func New(st *store.Store, accounts Accounts, orgs Organizations, keys *secrets.Keyring, kinds connector.Registry, budgets *budget.Budgets,
	pages *pagetoken.Sealer, cfg Config, log *slog.Logger) *Service {
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultTransport
	}
	return &Service{store: st, accounts: accounts, orgs: orgs, keys: keys, kinds: kinds, budgets: budgets, pages: pages, cfg: cfg, log: log,
		now: time.Now, owner: uuid.NewString(), wake: make(chan struct{}, 1), syncWake: make(chan struct{}, 1)}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// kind returns a registered kind, or an error naming the field.
func (s *Service) kind(name string) (connector.Kind, error) {
	k, ok := s.kinds[name]
	if !ok {
		return connector.Kind{}, apperr.Invalidf("kind", "unknown integration kind %q (one of %v)", name, s.kinds.Names())
	}
	return k, nil
}

// policy is the budget an integration spends from: its override, else its kind's limit.
func policy(k connector.Kind, p domain.BudgetPolicy) connector.Budget {
	if p.Requests > 0 && p.Window > 0 {
		return connector.Budget{Requests: p.Requests, Window: p.Window, Concurrency: p.Concurrency}
	}
	return k.Budget
}

// credentialAAD binds a sealed credential to its row.
func credentialAAD(accountID, integrationID, name string) []byte {
	return secrets.AAD("integration-credential", accountID, integrationID, name)
}

// sealCredentials seals each credential for its row.
func (s *Service) sealCredentials(accountID, integrationID string, creds map[string]string, at time.Time) ([]store.SealedCredential, error) {
	out := make([]store.SealedCredential, 0, len(creds))
	for name, v := range creds {
		sealed, err := s.keys.Seal([]byte(v), credentialAAD(accountID, integrationID, name))
		if err != nil {
			return nil, fmt.Errorf("seal credential: %w", err)
		}
		out = append(out, store.SealedCredential{Name: name, Sealed: sealed, KeyID: s.keys.KeyID(sealed), Updated: at})
	}
	return out, nil
}

// target is what a connector is built from, read in one transaction.
type target struct {
	integration domain.Integration
	credentials []store.SealedCredential
}

func (s *Service) readTarget(ctx context.Context, accountID, integrationID string) (target, error) {
	var t target
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		if t.integration, err = tx.Integration(ctx, integrationID, false); err != nil {
			return err
		}
		t.credentials, err = tx.Credentials(ctx, integrationID)
		return err
	})
	return t, err
}

// connect builds the connector of an integration: credentials opened, the HTTP client spending
// from its budget (configured from its policy, shared by every replica).
func (s *Service) connect(ctx context.Context, t target) (connector.Connector, connector.Kind, error) {
	in := t.integration
	k, ok := s.kinds[in.Kind]
	if !ok {
		return nil, connector.Kind{}, fmt.Errorf("integration %s has unknown kind %q", in.ID, in.Kind)
	}
	creds := make(map[string]string, len(t.credentials))
	for _, c := range t.credentials {
		v, err := s.keys.Open(c.Sealed, credentialAAD(in.AccountID, in.ID, c.Name))
		if err != nil {
			return nil, k, fmt.Errorf("open credential %s of integration %s: %w", c.Name, in.ID, err)
		}
		creds[c.Name] = string(v)
	}
	if err := s.budgets.Configure(ctx, in.ID, policy(k, in.Budget)); err != nil {
		return nil, k, err
	}
	client := transport.New(s.cfg.HTTP, s.budgets, in.ID, transport.Options{StopAfterAuthFailures: s.cfg.StopAfterAuthFailures})
	c, err := k.New(connector.Config{Settings: in.Settings, Credentials: creds, BaseURL: in.Endpoint}, client)
	if err != nil {
		return nil, k, apperr.FailedPrecondition("the integration's settings are incomplete: " + err.Error())
	}
	return c, k, nil
}

// Wake tells this process's workers there is new work.
func (s *Service) wakeWorkers() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writer is the caller of a change: it must hold integrations:write in the account, and a
// member's change to an account whose subscription is canceled or past due is refused (the
// account is read-only, as everywhere in Orgplane). Operators and services are not held to it.
// org is asked before any transaction opens.
func (s *Service) writer(ctx context.Context, accountID string) (identity.Identity, error) {
	id, err := identity.ForAccount(ctx, accountID, domain.PermWrite)
	if err != nil || id.Operator() || id.Kind == identity.KindService {
		return id, err
	}
	ok, err := s.accounts.Writable(ctx, accountID)
	if err != nil {
		return identity.Identity{}, err
	}
	if !ok {
		return identity.Identity{}, domain.ErrSubscriptionInactive
	}
	return id, nil
}
