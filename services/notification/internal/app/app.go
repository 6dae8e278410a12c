// Package app is the notification service's use cases: turning org's and integration-sync's
// events into deliveries (in the consumer's transaction), the workers that send emails, remind and
// digest, and the feed, preferences, settings and record the API serves.
package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/render"
	"github.com/orgplane/orgplane/services/notification/internal/store"
	"github.com/orgplane/orgplane/services/notification/internal/unsubscribe"
)

// Mail is one email as the relay gets it.
type Mail struct {
	// ID is the delivery's id; it is also the Message-ID's local part, so a relay or a reader can
	// tell a resend (after a crash between send and record) from a second email.
	ID             string
	To             string
	Subject        string
	Text           string
	HTML           string
	UnsubscribeURL string
}

// ErrRecipientRefused marks a send the relay refused for good (a 5xx to the recipient): trying
// again cannot help, so the email fails at once.
var ErrRecipientRefused = errors.New("the SMTP server refused the recipient")

// Mailer sends emails.
type Mailer interface {
	// Send sends msgs over one connection. conn is set when none could be tried (the relay
	// unreachable, or refusing the session); otherwise errs holds each message's outcome, nil
	// when the relay accepted it.
	Send(ctx context.Context, msgs []Mail) (errs []error, conn error)
}

// Config tunes the workers; tests shorten it.
type Config struct {
	// WebBaseURL prefixes the links in emails (the web UI: /reviews/{id}, /unsubscribe,
	// /invitations/accept, /passwordResets/complete).
	WebBaseURL string
	// EmailDisabled records every email as skipped instead of sending it (no relay configured on
	// purpose).
	EmailDisabled bool
	// SendWorkers is how many batches one process sends at once; SendBatch how many emails a
	// batch (one SMTP connection) takes.
	SendWorkers int
	SendBatch   int
	// Lease is how long a claimed email stays with its worker without renewal: a crashed
	// worker's emails go to another after it.
	Lease time.Duration
	// Poll is how often idle workers look for work nobody woke them for (retries come due,
	// another replica's work, reminders, digests).
	Poll time.Duration
	// RetryBase is the wait after a first failed send; each failure doubles it up to RetryMax.
	RetryBase time.Duration
	RetryMax  time.Duration
	// MaxAttempts is after how many tries an email the relay keeps refusing is given up. An
	// unreachable relay never counts against it: an outage delays mail, it never loses it.
	MaxAttempts int
	// DigestDelay is how long the first integration problem of a quiet account waits for others
	// to join it; DigestInterval the least time between two digests of one account.
	DigestDelay    time.Duration
	DigestInterval time.Duration
	// StreamSlack is how far back a live stream looks for entries whose transaction committed
	// after a later one's (clocks of replicas, slow commits).
	StreamSlack time.Duration
}

// DefaultConfig is the production configuration.
func DefaultConfig() Config {
	return Config{
		WebBaseURL:     "http://localhost:8080",
		SendWorkers:    2,
		SendBatch:      10,
		Lease:          time.Minute,
		Poll:           5 * time.Second,
		RetryBase:      5 * time.Second,
		RetryMax:       10 * time.Minute,
		MaxAttempts:    10,
		DigestDelay:    5 * time.Minute,
		DigestInterval: time.Hour,
		StreamSlack:    10 * time.Second,
	}
}

// Service runs the notification use cases.
type Service struct {
	store    *store.Store
	mailer   Mailer
	render   *render.Renderer
	tokens   *unsubscribe.Signer
	pages    *pagetoken.Sealer
	accounts Accounts
	links    LinkIssuer
	cfg      Config
	now      func() time.Time
	owner    string
	sendWake chan struct{}
	feed     *hub
	log      *slog.Logger
}

// New returns a Service. mailer may be nil when cfg.EmailDisabled; links issues the sign-in links
// of invitation and password reset emails.
func New(st *store.Store, mailer Mailer, tokens *unsubscribe.Signer, pages *pagetoken.Sealer, accounts Accounts, links LinkIssuer,
	cfg Config, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	cfg.WebBaseURL = strings.TrimRight(cfg.WebBaseURL, "/")
	return &Service{store: st, mailer: mailer, render: render.New(), tokens: tokens, pages: pages, accounts: accounts, links: links,
		cfg: cfg, now: now, owner: uuid.NewString(), sendWake: make(chan struct{}, 1), feed: newHub(), log: log}
}

// clock is the time records carry, at the database's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// member is the caller acting in accountID with perm (none: any member).
func member(ctx context.Context, accountID, perm string) (identity.Identity, error) {
	return identity.ForAccount(ctx, accountID, perm)
}

// Accounts says whether an account may change anything (org's answer about its subscription).
type Accounts interface {
	RequireWritable(ctx context.Context, id identity.Identity, accountID string) error
}

// writer is the caller of a change to the account's settings: it must hold perm, and a member's
// change to a read-only account (canceled or past due) is refused, as everywhere in Orgplane.
func (s *Service) writer(ctx context.Context, accountID, perm string) (identity.Identity, error) {
	id, err := member(ctx, accountID, perm)
	if err != nil {
		return id, err
	}
	return id, s.accounts.RequireWritable(ctx, id, accountID)
}

// feedOwner is the user whose feed and preferences the caller reaches: a user, or an API key
// acting as one.
func feedOwner(ctx context.Context, accountID string) (string, error) {
	id, err := member(ctx, accountID, "")
	if err != nil {
		return "", err
	}
	if id.UserID == "" {
		return "", domain.ErrNoUser
	}
	return id.UserID, nil
}

// sleep waits d or until ctx ends or wake fires.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}
