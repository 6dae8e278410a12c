package app

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// BulkCreateOrganizations creates many organizations in one transaction, all or none: the
// license check covers all of them at once (exact, as for one), the rows go in with one
// statement and their organization.created events with one COPY.
//
// With a requestID (AIP-155), a repeat of a bulk create that committed creates nothing, takes
// no license and publishes nothing: it answers with that bulk create's organizations as they
// are now, in the repeat's order, leaving out any deleted since (or hidden from the caller). A
// request id used before for other names is refused (domain.ErrRequestIDReused).
func (s *Service) BulkCreateOrganizations(ctx context.Context, accountID, requestID string, in []domain.Organization) ([]domain.Organization, error) {
	// The license statement refuses an inactive subscription itself (see CreateOrganization).
	id, err := caller(ctx, accountID, domain.Write(domain.AreaOrganizations))
	if err != nil {
		return nil, err
	}
	if err := domain.CheckBulk(in); err != nil {
		return nil, err
	}
	names := make([]string, len(in))
	for i, o := range in {
		names[i] = o.Name
	}
	var out []domain.Organization
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		// Microseconds, as stored: a repeat, which reads the rows, answers with the same times.
		now := s.now().Truncate(time.Microsecond)
		if requestID != "" {
			rec, found, err := tx.ClaimBulkCreateRequest(ctx, accountID, requestID, names, now)
			if err != nil {
				return err
			}
			if found {
				ids, err := domain.ReplayBulkCreate(rec, in)
				if err != nil {
					return err
				}
				out, err = tx.OrganizationsByID(ctx, visibility(id), ids)
				return err
			}
			if err := tx.PruneBulkCreateRequests(ctx, accountID, now.Add(-domain.BulkCreateRequestRetention)); err != nil {
				return err
			}
		}
		taken, err := tx.TakenNames(ctx, names)
		if err != nil {
			return err
		}
		if err := domain.CheckBulkNamesFree(in, taken); err != nil {
			return err
		}
		ids, err := tx.InsertOrganizations(ctx, accountID, in, now)
		if err != nil {
			return err
		}
		if requestID != "" {
			if err := tx.CompleteBulkCreateRequest(ctx, accountID, requestID, ids); err != nil {
				return err
			}
		}
		orgs := make([]domain.Organization, len(in))
		msgs := make([]proto.Message, len(in))
		for i, o := range in {
			orgs[i] = domain.Organization{ID: ids[i], Name: o.Name, TypeID: o.TypeID, StatusID: o.StatusID,
				DefaultEngineerID: o.DefaultEngineerID, DefaultVCIOID: o.DefaultVCIOID, Notes: o.Notes,
				GroupIDs: []string{}, State: domain.StateActive, CreatedAt: now, UpdatedAt: now}
			msgs[i] = &orgv1.OrganizationCreated{AccountId: accountID, Organization: pbconv.Organization(orgs[i]), ChangedBy: author(ctx)}
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
