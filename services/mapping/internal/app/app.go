// Package app is the mapping service's use cases: permission, then the organization's
// visibility (asked of the org service, outside any transaction), then the transaction.
package app

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// Organizations is the org service as mapping needs it.
type Organizations interface {
	// CheckVisible returns nil when the caller in ctx may see the organization, else the org
	// service's answer (not found, for one it may not see).
	CheckVisible(ctx context.Context, accountID, organizationID string) error
}

// Service runs the mapping use cases.
type Service struct {
	store *store.Store
	orgs  Organizations
}

// New returns a Service.
func New(st *store.Store, orgs Organizations) *Service { return &Service{store: st, orgs: orgs} }

// OrganizationLinks lists an organization's links. Group visibility is the org service's rule,
// so it is asked there, with the caller's own identity, before anything is read here.
func (s *Service) OrganizationLinks(ctx context.Context, accountID, organizationID string) ([]domain.Link, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, err
	}
	if err := s.orgs.CheckVisible(ctx, accountID, organizationID); err != nil {
		return nil, err
	}
	var out []domain.Link
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.OrganizationLinks(ctx, organizationID)
		return err
	})
	return out, err
}

// OrganizationDeleted drops the links of a deleted organization (consumer mapping-links, in the
// consumer's transaction).
func (s *Service) OrganizationDeleted(ctx context.Context, tx pgx.Tx, organizationID string) error {
	_, err := s.store.Within(tx).DeleteOrganizationLinks(ctx, organizationID)
	return err
}
