// Package app is the billing service's use cases, one method each: check the caller's
// permission, open the transaction, let the domain decide, write through the store, enqueue the
// events in the same transaction. A change of licenses also goes to the org service, which
// enforces the limit; that call is never made inside a transaction (see intents.go).
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

// OrgLicenses is the org service as billing needs it: it enforces a limit where organizations
// become active, refusing one below the active organizations, and counts them exactly.
// Implementations return an error wrapping domain.ErrOrgUnreachable when the call got no answer
// (it may or may not have been applied), and org's own error when org refused.
type OrgLicenses interface {
	SetLicenseLimit(ctx context.Context, accountID string, l domain.OrgLimit) (domain.Usage, error)
	LicenseUsage(ctx context.Context, accountID string) (domain.Usage, error)
}

// Config tunes the service. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Trial is what a new account's trial allows.
	Trial domain.TrialTerms
	// CallTimeout bounds one SetLicenseLimit call to the org service.
	CallTimeout time.Duration
	// Lease is how long the request that wrote an intent (or the worker that claimed it) has it
	// to itself before the worker takes it (again). It must exceed CallTimeout plus the time to
	// record the outcome, so that two callers rarely apply one intent; when they do, the
	// generation and the intent's row lock make it harmless.
	Lease time.Duration
	// Retry spaces out attempts at an intent the org service did not answer.
	Retry domain.Backoff
	// PollInterval is how often the worker looks for due intents when nothing wakes it.
	PollInterval time.Duration
	// WaitForPending is how long a license change waits for the account's pending one to be
	// confirmed before it is refused as a conflict. Confirmation normally takes milliseconds.
	WaitForPending time.Duration
}

// DefaultConfig is the configuration of a service nobody tuned.
func DefaultConfig() Config {
	return Config{
		Trial:          domain.TrialTerms{Limit: 25, Days: 30},
		CallTimeout:    5 * time.Second,
		Lease:          15 * time.Second,
		Retry:          domain.Backoff{Base: time.Second, Max: time.Minute},
		PollInterval:   time.Second,
		WaitForPending: 2 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Trial == (domain.TrialTerms{}) {
		c.Trial = d.Trial
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.Lease <= 0 {
		c.Lease = d.Lease
	}
	if c.Retry.Base <= 0 || c.Retry.Max <= 0 {
		c.Retry = d.Retry
	}
	if c.PollInterval <= 0 {
		c.PollInterval = d.PollInterval
	}
	if c.WaitForPending < 0 {
		c.WaitForPending = 0
	}
	return c
}

// Service runs the billing service's use cases.
type Service struct {
	store *store.Store
	org   OrgLicenses
	now   domain.Clock
	cfg   Config
	log   *slog.Logger
	pages *pagetoken.Sealer
}

// New returns a Service that seals its lists' page tokens with pages. A nil clock means
// time.Now, a nil logger discards.
func New(st *store.Store, org OrgLicenses, now domain.Clock, pages *pagetoken.Sealer, cfg Config, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, org: org, now: now, cfg: cfg.withDefaults(), log: log, pages: pages}
}
