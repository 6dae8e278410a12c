package app

import (
	"context"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// SyncPreview is what saving sync settings would change.
type SyncPreview struct{ Stop, Start, In int }

// psaIntegration reads an integration and refuses one that is not a PSA.
func (s *Service) psaIntegration(ctx context.Context, tx *store.Tx, integrationID string, lock bool) (domain.Integration, error) {
	in, err := tx.Integration(ctx, integrationID, lock)
	if err != nil {
		return in, err
	}
	if k, ok := s.kinds[in.Kind]; !ok || !k.PSA {
		return in, domain.ErrNotPSA
	}
	return in, nil
}

// PreviewSyncSettings counts, over the integration's cached companies, how many a scope would
// stop syncing (orphaned by the next full refresh) or take back.
func (s *Service) PreviewSyncSettings(ctx context.Context, accountID, integrationID string, settings domain.SyncSettings) (SyncPreview, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return SyncPreview{}, err
	}
	var p SyncPreview
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if _, err := s.psaIntegration(ctx, tx, integrationID, false); err != nil {
			return err
		}
		cached, err := tx.AllExternals(ctx, integrationID)
		if err != nil {
			return err
		}
		p.Stop, p.Start, p.In = domain.Preview(settings.Scope, cached)
		return nil
	})
	return p, err
}

// UpdateSyncSettings saves a PSA integration's direction and scope; the next refresh applies the
// scope (a full one to every cached company).
func (s *Service) UpdateSyncSettings(ctx context.Context, accountID, integrationID string, settings domain.SyncSettings) (domain.SyncSettings, error) {
	if _, err := s.writer(ctx, accountID); err != nil {
		return domain.SyncSettings{}, err
	}
	if settings.Direction == 0 {
		settings.Direction = domain.SyncOff
	}
	settings.Updated = s.clock()
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		prev, err := s.psaIntegration(ctx, tx, integrationID, true)
		if err != nil {
			return err
		}
		if err := tx.SetSyncSettings(ctx, integrationID, settings); err != nil {
			return err
		}
		// Turned on to pull: the companies already cached come in too, not only new ones.
		if !prev.Sync.Direction.Pulls() && settings.Direction.Pulls() && !prev.Paused {
			if err := tx.TouchUnlinkedExternals(ctx, accountID, integrationID, settings.Updated); err != nil {
				return err
			}
		}
		// Turning sync on or off changes which organizations org must not delete.
		return tx.PublishSyncing(ctx, accountID, integrationID, nil, settings.Updated)
	})
	if err == nil {
		s.wakeSync()
	}
	return settings, err
}
