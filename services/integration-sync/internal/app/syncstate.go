package app

import (
	"context"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// SetSyncDisabled turns sync off or on for one cached external organization; its link (in
// mapping) stays. A change publishes external_organization.changed.
func (s *Service) SetSyncDisabled(ctx context.Context, accountID, integrationID, externalID string, disabled bool) (domain.ExternalOrganization, error) {
	id, err := s.writer(ctx, accountID)
	if err != nil {
		return domain.ExternalOrganization{}, err
	}
	var out domain.ExternalOrganization
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		integ, err := tx.Integration(ctx, integrationID, false)
		if err != nil {
			return err
		}
		cached, err := tx.ExternalsForUpdate(ctx, integrationID, []string{externalID})
		if err != nil {
			return err
		}
		e, ok := cached[externalID]
		if !ok {
			return domain.ErrExternalNotFound
		}
		now := s.clock()
		next, changed, err := domain.SetSyncDisabled(e, disabled, now, id.Actor())
		if err != nil || !changed {
			out = e
			return err
		}
		next.IntegrationKind = integ.Kind
		if err := tx.UpsertExternals(ctx, accountID, integrationID, []domain.ExternalOrganization{next}); err != nil {
			return err
		}
		out = next
		if err := tx.PublishSyncing(ctx, accountID, integrationID, []string{externalID}, now); err != nil {
			return err
		}
		return tx.Enqueue(ctx, externalEvent(accountID, next, domain.Changed), now)
	})
	return out, err
}
