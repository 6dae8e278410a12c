package store

import (
	"context"
	"fmt"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// DeleteExternal forgets a cached company with its pending pull task; a later refresh that
// lists it again caches it anew.
func (t *Tx) DeleteExternal(ctx context.Context, integrationID, externalID string) error {
	if _, err := t.tx.Exec(ctx, `WITH gone AS (
			DELETE FROM sync_tasks WHERE integration_id = $1 AND external_id = $2 RETURNING id)
		DELETE FROM sync_queue WHERE task_id IN (SELECT id FROM gone)`, integrationID, externalID); err != nil {
		return fmt.Errorf("drop sync task: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM external_organizations WHERE integration_id = $1 AND external_id = $2`,
		integrationID, externalID); err != nil {
		return fmt.Errorf("forget external organization: %w", err)
	}
	return nil
}

// DismissOrphan takes an orphan off the orphans list; it comes back if it stops being an
// orphan and becomes one again (UpsertExternals clears the mark).
func (t *Tx) DismissOrphan(ctx context.Context, integrationID, externalID string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE external_organizations SET dismissed_at = $3
		WHERE integration_id = $1 AND external_id = $2 AND state = 2`, integrationID, externalID, at); err != nil {
		return fmt.Errorf("dismiss orphan: %w", err)
	}
	return nil
}

// syncCreatedWhere selects the companies whose organization the sync created and which are
// still linked to it: what a disconnect that deletes the data deletes.
const syncCreatedWhere = `e.integration_id = $1 AND e.created_by_sync AND e.organization_id IS NOT NULL`

// SyncCreated lists, by external id after the given one, up to limit companies whose linked
// organization the sync created.
func (t *Tx) SyncCreated(ctx context.Context, integrationID, afterExternalID string, limit int) ([]domain.ExternalOrganization, error) {
	return collectExternals(t.tx.Query(ctx, `SELECT `+externalColumns+`
		FROM external_organizations e JOIN integrations i ON i.id = e.integration_id
		WHERE `+syncCreatedWhere+` AND e.external_id > $2
		ORDER BY e.external_id LIMIT $3`, integrationID, afterExternalID, limit))
}

// CountSyncCreated counts the companies whose linked organization the sync created.
func (t *Tx) CountSyncCreated(ctx context.Context, integrationID string) (int, error) {
	var n int
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM external_organizations e WHERE `+syncCreatedWhere,
		integrationID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count organizations the sync created: %w", err)
	}
	return n, nil
}

// SaysSyncing reports whether organization_sync.changed last told org that the integration
// syncs the organization: what org's deletion guard holds.
func (t *Tx) SaysSyncing(ctx context.Context, integrationID, organizationID string) (bool, error) {
	var yes bool
	if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM external_organizations
		WHERE integration_id = $1 AND syncing_org = $2)`, integrationID, organizationID).Scan(&yes); err != nil {
		return false, fmt.Errorf("read syncing state: %w", err)
	}
	return yes, nil
}
