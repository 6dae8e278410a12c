package app

import (
	"context"
	"github.com/orgplane/orgplane/pkg/identity"
	"time"

	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// The PSA sync's own changes (orgv1.OrganizationSyncService): integration-sync, calling as
// itself, creates, updates and deletes organizations for an integration. They are a member's
// changes in every rule and event, but no group visibility limits a service, and the account's
// read-only state (an inactive subscription) does not stop it, as writer lets services pass;
// creating and reactivating still take a license, which an inactive subscription refuses to
// anyone.
//
// The requests name the integration as the change's author, but org keeps no author of
// organization changes (no column, no field in the organization.* events), so only the delete,
// whose rule depends on it, uses it.

// CreateSyncedOrganization creates the organization of a PSA company: its name, type, status
// and parent, validated and licensed as a member's create. requestID makes it idempotent
// (AIP-155, through bulk creates' records): a repeat creates nothing and answers with the
// organization as it is now (not found if deleted since).
func (s *Service) CreateSyncedOrganization(ctx context.Context, accountID, integrationID, requestID string, in domain.Organization) (domain.Organization, error) {
	ctx = withAuthor(ctx, SyncAuthor(integrationID))
	if err := requireServiceIdentity(ctx); err != nil {
		return domain.Organization{}, err
	}
	if err := domain.CheckName("organization", in.Name); err != nil {
		return domain.Organization{}, err
	}
	// A PSA company brings these; the rest is Orgplane's to set.
	in = domain.Organization{Name: in.Name, TypeID: in.TypeID, StatusID: in.StatusID, ParentID: in.ParentID}
	var out domain.Organization
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		now := s.now().Truncate(time.Microsecond)
		rec, found, err := tx.ClaimBulkCreateRequest(ctx, accountID, requestID, []string{in.Name}, now)
		if err != nil {
			return err
		}
		if found {
			ids, err := domain.ReplayBulkCreate(rec, []domain.Organization{in})
			if err != nil {
				return err
			}
			orgs, err := tx.OrganizationsByID(ctx, domain.Visibility{}, ids)
			if err != nil {
				return err
			}
			if len(orgs) == 0 {
				return domain.ErrOrganizationNotFound
			}
			out = orgs[0]
			return nil
		}
		if err := tx.PruneBulkCreateRequests(ctx, accountID, now.Add(-domain.BulkCreateRequestRetention)); err != nil {
			return err
		}
		o, err := s.insertOrganization(ctx, tx, accountID, domain.Visibility{}, in)
		if err != nil {
			return err
		}
		if err := tx.CompleteBulkCreateRequest(ctx, accountID, requestID, []string{o.ID}); err != nil {
			return err
		}
		if err := takeLicenses(ctx, tx, 1, 1); err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

// UpdateSyncedOrganization applies a PSA company's changes to its organization, all or none:
// the fields that differ (organization.updated), then deactivation or reactivation (the 12-month
// rule holds) with their events. An organization already as asked is returned unchanged, with no
// event.
func (s *Service) UpdateSyncedOrganization(ctx context.Context, accountID, integrationID, orgID string, u domain.SyncUpdate) (domain.Organization, error) {
	ctx = withAuthor(ctx, SyncAuthor(integrationID))
	if err := requireServiceIdentity(ctx); err != nil {
		return domain.Organization{}, err
	}
	var all domain.Visibility
	var out domain.Organization
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cur, err := tx.LockOrganization(ctx, all, orgID)
		if err != nil {
			return err
		}
		plan, err := domain.PlanSyncUpdate(cur, u)
		if err != nil {
			return err
		}
		if len(plan.Paths) > 0 {
			if cur, err = s.writeOrganizationFields(ctx, tx, accountID, plan.Org, plan.Paths, ""); err != nil {
				return err
			}
		}
		switch {
		case plan.Deactivate:
			cur, err = s.deactivateOrganization(ctx, tx, accountID, all, cur)
		case plan.Reactivate:
			// Last: it takes the license.
			cur, err = s.reactivateOrganization(ctx, tx, accountID, all, cur, false)
		}
		if err != nil {
			return err
		}
		out = cur
		return nil
	})
	return out, err
}

// DeleteSyncedOrganization deletes an organization an integration brought in, with its
// sub-organizations, as DeleteOrganization does; that integration's own sync does not stop it,
// another's does.
func (s *Service) DeleteSyncedOrganization(ctx context.Context, accountID, integrationID, orgID string) ([]string, error) {
	ctx = withAuthor(ctx, SyncAuthor(integrationID))
	if err := requireServiceIdentity(ctx); err != nil {
		return nil, err
	}
	var deleted []string
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		ids, err := s.deleteOrganization(ctx, tx, accountID, domain.Visibility{}, orgID, integrationID)
		if err != nil {
			return err
		}
		deleted = ids
		return nil
	})
	return deleted, err
}

// SyncAuthor is who a change the PSA sync of an integration made is recorded as, in events:
// integration-sync does not send that integration its own change back.
func SyncAuthor(integrationID string) string { return "integration-sync:" + integrationID }

type authorKey struct{}

func withAuthor(ctx context.Context, author string) context.Context {
	return context.WithValue(ctx, authorKey{}, author)
}

// author is who makes the change ctx carries, for events: the sync of an integration, or the
// caller.
func author(ctx context.Context) string {
	if a, ok := ctx.Value(authorKey{}).(string); ok {
		return a
	}
	id, _ := identity.From(ctx)
	return id.Actor()
}
