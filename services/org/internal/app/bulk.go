package app

import (
	"context"

	"google.golang.org/protobuf/proto"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// BulkCreateOrganizations creates many organizations in one transaction, all or none: the
// license check covers all of them at once (exact, as for one), the rows go in with one
// statement and their organization.created events with one COPY.
func (s *Service) BulkCreateOrganizations(ctx context.Context, accountID string, in []domain.Organization) ([]domain.Organization, error) {
	// The license statement refuses an inactive subscription itself (see CreateOrganization).
	if _, err := caller(ctx, accountID, domain.Write(domain.AreaOrganizations)); err != nil {
		return nil, err
	}
	if err := domain.CheckBulk(in); err != nil {
		return nil, err
	}
	var out []domain.Organization
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		names := make([]string, len(in))
		for i, o := range in {
			names[i] = o.Name
		}
		taken, err := tx.TakenNames(ctx, names)
		if err != nil {
			return err
		}
		if err := domain.CheckBulkNamesFree(in, taken); err != nil {
			return err
		}
		now := s.now()
		ids, err := tx.InsertOrganizations(ctx, accountID, in, now)
		if err != nil {
			return err
		}
		orgs := make([]domain.Organization, len(in))
		msgs := make([]proto.Message, len(in))
		for i, o := range in {
			orgs[i] = domain.Organization{ID: ids[i], Name: o.Name, TypeID: o.TypeID, StatusID: o.StatusID,
				DefaultEngineerID: o.DefaultEngineerID, DefaultVCIOID: o.DefaultVCIOID, Notes: o.Notes,
				GroupIDs: []string{}, State: domain.StateActive, CreatedAt: now, UpdatedAt: now}
			msgs[i] = &orgv1.OrganizationCreated{AccountId: accountID, Organization: pbconv.Organization(orgs[i])}
		}
		if err := tx.EnqueueBatch(ctx, msgs, now); err != nil {
			return err
		}
		if err := takeLicenses(ctx, tx, len(in), len(in)); err != nil {
			return err
		}
		out = orgs
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
