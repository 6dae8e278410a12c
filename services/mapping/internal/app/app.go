// Package app is the mapping service's use cases: permission, then the organization's
// visibility (asked of the org service, outside any transaction), then the transaction.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/pagetoken"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// Organizations is the org service as mapping needs it.
type Organizations interface {
	// CheckVisible returns nil when the caller in ctx may see the organization, else the org
	// service's answer (not found, for one it may not see).
	CheckVisible(ctx context.Context, accountID, organizationID string) error
	// Licenses reads the account's licenses and whether it may change anything.
	Licenses(ctx context.Context, accountID string) (domain.Licenses, error)
	// BulkCreate creates organizations by name as the identity in ctx, idempotent by requestID.
	BulkCreate(ctx context.Context, accountID, requestID string, names []string) ([]string, error)
}

// Integrations is integration-sync as mapping needs it.
type Integrations interface {
	// Summaries lists an account's integrations (the grid's columns).
	Summaries(ctx context.Context, accountID string) ([]domain.Integration, error)
}

// Service runs the mapping use cases.
type Service struct {
	store        *store.Store
	orgs         Organizations
	integrations Integrations
	pages        *pagetoken.Sealer
	now          func() time.Time
	owner        string
	wake         chan struct{}
	log          *slog.Logger
}

// New returns a Service.
func New(st *store.Store, orgs Organizations, integrations Integrations, pages *pagetoken.Sealer, log *slog.Logger) *Service {
	return &Service{store: st, orgs: orgs, integrations: integrations, pages: pages, now: time.Now, owner: uuid.NewString(),
		wake: make(chan struct{}, 1), log: log}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// writer is the caller of a change: it holds mappings:write, and a member may not change a
// read-only account (its subscription canceled or past due, as org says). It returns the
// account's licenses, read on the way.
func (s *Service) writer(ctx context.Context, accountID string, perms ...string) (identity.Identity, domain.Licenses, error) {
	var id identity.Identity
	for _, p := range append([]string{domain.PermWrite}, perms...) {
		var err error
		if id, err = identity.ForAccount(ctx, accountID, p); err != nil {
			return id, domain.Licenses{}, err
		}
	}
	lic, err := s.orgs.Licenses(ctx, accountID)
	if err != nil {
		return id, lic, err
	}
	if !lic.Writable && !id.Operator() && id.Kind != identity.KindService {
		return id, lic, domain.ErrSubscriptionInactive
	}
	return id, lic, nil
}

// OrganizationLinks pages an organization's links by integration, and returns the token of the
// next page ("" on the last). Group visibility is the org service's rule, so it is asked there,
// with the caller's own identity, before anything is read here.
func (s *Service) OrganizationLinks(ctx context.Context, accountID, organizationID string, size int32, token string) ([]domain.Link, string, error) {
	// The token is checked first, as on every list: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[string](ctx, s.pages, "organization links", size, token, accountID, organizationID)
	if err != nil {
		return nil, "", err
	}
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", err
	}
	if err := s.orgs.CheckVisible(ctx, accountID, organizationID); err != nil {
		return nil, "", err
	}
	var out []domain.Link
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.OrganizationLinks(ctx, organizationID, page.After, page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, out, func(l domain.Link) string { return l.IntegrationID })
}
