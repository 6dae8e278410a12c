package app

import (
	"context"
	"slices"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/fieldmask"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// visibility is the organizations id may see.
func visibility(id identity.Identity) domain.Visibility {
	restricted, groups := id.Visibility()
	return domain.Visibility{Restricted: restricted, Groups: groups}
}

// takeLicenses counts n more active organizations in (created of them new) or explains why they
// do not fit, with the counts of the statement that refused. Callers run it last in their
// transaction: it takes the lock every create of the account queues on.
func takeLicenses(ctx context.Context, tx *store.Tx, n, created int) error {
	c, ok, err := tx.TakeLicenses(ctx, n, created)
	if err != nil || ok {
		return err
	}
	return c.Refusal(n)
}

// checkParent refuses parentID as the parent of orgID ("" for a new organization) for the
// caller seeing vis; height is the height of orgID's subtree.
func checkParent(ctx context.Context, tx *store.Tx, vis domain.Visibility, orgID, parentID string, height int) error {
	if parentID == "" {
		return nil
	}
	a, err := tx.Ancestry(ctx, vis, orgID, parentID)
	if err != nil {
		return err
	}
	return domain.CheckParent("organization", orgID, parentID, a, height)
}

// CreateOrganization creates an active organization, taking a license.
func (s *Service) CreateOrganization(ctx context.Context, accountID string, in domain.Organization) (domain.Organization, error) {
	// No separate subscription check: taking the license, last in the transaction, refuses an
	// inactive subscription with the same error (domain.ErrSubscriptionInactive) and saves the
	// hot path a round trip.
	id, err := caller(ctx, accountID, domain.Write(domain.AreaOrganizations))
	if err != nil {
		return domain.Organization{}, err
	}
	if err := domain.CheckName("organization", in.Name); err != nil {
		return domain.Organization{}, err
	}
	var out domain.Organization
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		o, err := s.insertOrganization(ctx, tx, accountID, visibility(id), in)
		if err != nil {
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

// insertOrganization inserts in, whose name the caller has checked, as an active organization
// with its groups and its organization.created event. The caller takes its license, last in
// the transaction.
func (s *Service) insertOrganization(ctx context.Context, tx *store.Tx, accountID string, vis domain.Visibility, in domain.Organization) (domain.Organization, error) {
	if err := checkParent(ctx, tx, vis, "", in.ParentID, 1); err != nil {
		return domain.Organization{}, err
	}
	orgID, created, err := tx.InsertOrganization(ctx, accountID, in, s.now())
	if err != nil {
		return domain.Organization{}, err
	}
	if len(in.GroupIDs) > 0 {
		if err := tx.SetOrganizationGroups(ctx, accountID, orgID, in.GroupIDs, "organization"); err != nil {
			return domain.Organization{}, err
		}
	}
	// Everything is known without reading the row back: a round trip saved on the hot path.
	o := domain.Organization{ID: orgID, Name: in.Name, TypeID: in.TypeID, StatusID: in.StatusID, ParentID: in.ParentID,
		DefaultEngineerID: in.DefaultEngineerID, DefaultVCIOID: in.DefaultVCIOID, GroupIDs: domain.SortedGroups(in.GroupIDs),
		Notes: in.Notes, State: domain.StateActive, CreatedAt: created, UpdatedAt: created}
	if err := tx.Enqueue(ctx, &orgv1.OrganizationCreated{AccountId: accountID, Organization: pbconv.Organization(o), ChangedBy: author(ctx)}, s.now()); err != nil {
		return domain.Organization{}, err
	}
	return o, nil
}

// GetOrganization returns an organization the caller may see.
func (s *Service) GetOrganization(ctx context.Context, accountID, orgID string) (domain.Organization, error) {
	id, err := caller(ctx, accountID, domain.Read(domain.AreaOrganizations))
	if err != nil {
		return domain.Organization{}, err
	}
	var out domain.Organization
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Organization(ctx, visibility(id), orgID)
		return err
	})
	return out, err
}

// OrganizationQuery asks for a page of an account's organizations.
type OrganizationQuery struct {
	AccountID string
	Filter    domain.OrganizationFilter
	Order     domain.OrganizationOrder
	PageSize  int32
	PageToken string
}

// OrganizationPage is a page of organizations, the total the filter selects, and the token of
// the next page ("" on the last).
type OrganizationPage struct {
	Organizations []domain.Organization
	Total         int64
	NextPageToken string
}

// ListOrganizations lists the organizations the caller may see in the order asked for (ties by
// id), with filters, case-insensitive substring search and the total count. A page token
// continues only the filters and the order it was issued for.
func (s *Service) ListOrganizations(ctx context.Context, q OrganizationQuery) (OrganizationPage, error) {
	id, err := caller(ctx, q.AccountID, domain.Read(domain.AreaOrganizations))
	if err != nil {
		return OrganizationPage{}, err
	}
	page, err := pagetoken.Open[store.OrgPosition](ctx, s.pages, "organizations", q.PageSize, q.PageToken, q.AccountID, q.Filter.Key(), q.Order.String())
	if err != nil {
		return OrganizationPage{}, err
	}
	var after *store.OrgPosition
	if page.Continues {
		after = &page.After
	}
	var out OrganizationPage
	err = s.store.InTenant(ctx, q.AccountID, func(tx *store.Tx) error {
		var err error
		out.Organizations, out.Total, err = tx.ListOrganizations(ctx, q.AccountID, visibility(id), q.Filter, q.Order, after, page.Size+1)
		return err
	})
	if err != nil {
		return OrganizationPage{}, err
	}
	out.Organizations, out.NextPageToken, err = pagetoken.Next(page, out.Organizations, func(o domain.Organization) store.OrgPosition {
		return store.PositionOf(o, q.Order)
	})
	if err != nil {
		return OrganizationPage{}, err
	}
	return out, nil
}

// updatableOrganizationFields are the fields an update mask may name.
var updatableOrganizationFields = []string{"name", "type_id", "status_id", "parent_id",
	"default_engineer_id", "default_vcio_id", "group_ids", "notes"}

// UpdateOrganization changes the fields named by paths (an update mask, as received) of an
// organization the caller may see to their values in in; in.ID names the organization.
func (s *Service) UpdateOrganization(ctx context.Context, accountID string, in domain.Organization, mask []string) (domain.Organization, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaOrganizations))
	if err != nil {
		return domain.Organization{}, err
	}
	paths, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: mask}, "update_mask", updatableOrganizationFields...)
	if err != nil {
		return domain.Organization{}, err
	}
	if in.ID == "" {
		return domain.Organization{}, apperr.Invalid("organization.id", "is required")
	}
	vis := visibility(id)
	moves := slices.Contains(paths, "parent_id")
	var out domain.Organization
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		// A move takes the tree lock before its row lock (store.LockTree): the ancestry it
		// checks then stays as read until it commits, and the loser of two opposite moves finds
		// the cycle (409) instead of deadlocking or closing it.
		if moves {
			if err := tx.LockTree(ctx); err != nil {
				return err
			}
		}
		if _, err := tx.LockOrganization(ctx, vis, in.ID); err != nil {
			return err
		}
		for _, p := range paths {
			switch p {
			case "name":
				if err := domain.CheckName("organization", in.Name); err != nil {
					return err
				}
			case "parent_id":
				height, err := tx.SubtreeHeight(ctx, in.ID)
				if err != nil {
					return err
				}
				if err := checkParent(ctx, tx, vis, in.ID, in.ParentID, height); err != nil {
					return err
				}
			}
		}
		o, err := s.writeOrganizationFields(ctx, tx, accountID, in, paths, "organization")
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

// writeOrganizationFields writes the fields paths name from in (checked by the caller) to the
// organization in.ID names, locked by the caller, and publishes organization.updated; field is
// the organization's path in the request, for errors.
func (s *Service) writeOrganizationFields(ctx context.Context, tx *store.Tx, accountID string, in domain.Organization, paths []string,
	field string) (domain.Organization, error) {
	for _, p := range paths {
		if err := tx.UpdateOrganizationField(ctx, accountID, p, in, field); err != nil {
			return domain.Organization{}, err
		}
	}
	if err := tx.TouchOrganization(ctx, in.ID, s.now()); err != nil {
		return domain.Organization{}, err
	}
	o, err := tx.Organization(ctx, domain.Visibility{}, in.ID)
	if err != nil {
		return domain.Organization{}, err
	}
	if err := tx.Enqueue(ctx, &orgv1.OrganizationUpdated{AccountId: accountID, Organization: pbconv.Organization(o),
		ChangedFields: paths, ChangedBy: author(ctx)}, s.now()); err != nil {
		return domain.Organization{}, err
	}
	return o, nil
}

// DeactivateOrganization frees an organization's license and records when.
func (s *Service) DeactivateOrganization(ctx context.Context, accountID, orgID string) (domain.Organization, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaOrganizations))
	if err != nil {
		return domain.Organization{}, err
	}
	vis := visibility(id)
	var out domain.Organization
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cur, err := tx.LockOrganization(ctx, vis, orgID)
		if err != nil {
			return err
		}
		o, err := s.deactivateOrganization(ctx, tx, accountID, vis, cur)
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

// deactivateOrganization deactivates cur, locked by the caller, releasing its license, and
// publishes organization.deactivated.
func (s *Service) deactivateOrganization(ctx context.Context, tx *store.Tx, accountID string, vis domain.Visibility,
	cur domain.Organization) (domain.Organization, error) {
	if err := cur.CheckDeactivate(); err != nil {
		return domain.Organization{}, err
	}
	if err := tx.DeactivateOrganization(ctx, cur.ID, s.now()); err != nil {
		return domain.Organization{}, err
	}
	if err := tx.ReleaseLicenses(ctx, 1, 0); err != nil {
		return domain.Organization{}, err
	}
	o, err := tx.Organization(ctx, vis, cur.ID)
	if err != nil {
		return domain.Organization{}, err
	}
	if err := tx.Enqueue(ctx, &orgv1.OrganizationDeactivated{AccountId: accountID, Organization: pbconv.Organization(o), ChangedBy: author(ctx)}, s.now()); err != nil {
		return domain.Organization{}, err
	}
	return o, nil
}

// ReactivateOrganization makes a deactivated organization active again, taking a license. It is
// refused within domain.ReactivationCooldown months of the deactivation unless a platform
// operator overrides.
func (s *Service) ReactivateOrganization(ctx context.Context, accountID, orgID string, override bool) (domain.Organization, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaOrganizations))
	if err != nil {
		return domain.Organization{}, err
	}
	if err := domain.CheckCooldownOverride(override, id.Operator()); err != nil {
		return domain.Organization{}, err
	}
	vis := visibility(id)
	var out domain.Organization
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cur, err := tx.LockOrganization(ctx, vis, orgID)
		if err != nil {
			return err
		}
		o, err := s.reactivateOrganization(ctx, tx, accountID, vis, cur, override)
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

// reactivateOrganization reactivates cur, locked by the caller, and publishes
// organization.reactivated; it takes the license, so callers run it last in their transaction.
func (s *Service) reactivateOrganization(ctx context.Context, tx *store.Tx, accountID string, vis domain.Visibility,
	cur domain.Organization, override bool) (domain.Organization, error) {
	now := s.now()
	if err := cur.CheckReactivate(now, override); err != nil {
		return domain.Organization{}, err
	}
	if err := tx.ReactivateOrganization(ctx, cur.ID, now); err != nil {
		return domain.Organization{}, err
	}
	o, err := tx.Organization(ctx, vis, cur.ID)
	if err != nil {
		return domain.Organization{}, err
	}
	if err := tx.Enqueue(ctx, &orgv1.OrganizationReactivated{AccountId: accountID, Organization: pbconv.Organization(o),
		CooldownOverridden: override, ChangedBy: author(ctx)}, s.now()); err != nil {
		return domain.Organization{}, err
	}
	if err := takeLicenses(ctx, tx, 1, 0); err != nil {
		return domain.Organization{}, err
	}
	return o, nil
}

// DeleteOrganization removes an organization, its sub-organizations and everything that belongs
// to them, publishing organization.deleted for each, and returns their ids (deepest first).
// Refused while any is kept in sync, and to a group-limited caller when any is outside its
// groups (domain.CheckDeleteVisible: how many, never which).
func (s *Service) DeleteOrganization(ctx context.Context, accountID, orgID string) ([]string, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaOrganizations))
	if err != nil {
		return nil, err
	}
	var deleted []string
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		ids, err := s.deleteOrganization(ctx, tx, accountID, visibility(id), orgID, "")
		if err != nil {
			return err
		}
		deleted = ids
		return nil
	})
	return deleted, err
}

// deleteOrganization deletes orgID with its subtree for a caller seeing vis, on behalf of the
// integration by ("" for anyone else; see domain.CheckDelete), and returns the deleted ids.
func (s *Service) deleteOrganization(ctx context.Context, tx *store.Tx, accountID string, vis domain.Visibility, orgID, by string) ([]string, error) {
	// Tree lock first, as a move takes it: a move into or out of the subtree waits, rather
	// than holding a member's lock while waiting for one this delete holds.
	if err := tx.LockTree(ctx); err != nil {
		return nil, err
	}
	if _, err := tx.LockOrganization(ctx, vis, orgID); err != nil {
		return nil, err
	}
	subtree, hidden, err := tx.Subtree(ctx, vis, orgID)
	if err != nil {
		return nil, err
	}
	// Before CheckDelete, whose refusal names a syncing sub-organization.
	if err := domain.CheckDeleteVisible(hidden); err != nil {
		return nil, err
	}
	if err := domain.CheckDelete(orgID, subtree, by); err != nil {
		return nil, err
	}
	if err := tx.DeleteOrganization(ctx, orgID); err != nil {
		return nil, err
	}
	if err := tx.ReleaseLicenses(ctx, domain.ActiveCount(subtree), len(subtree)); err != nil {
		return nil, err
	}
	ids := make([]string, len(subtree))
	for i, m := range subtree {
		ids[i] = m.ID
		if err := tx.Enqueue(ctx, &orgv1.OrganizationDeleted{AccountId: accountID, OrganizationId: m.ID,
			Name: m.Name, ParentId: m.ParentID, DeletedWithId: orgID, WasActive: m.Active, ChangedBy: author(ctx)}, s.now()); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
