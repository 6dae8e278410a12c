package store

import (
	"context"
	"fmt"
)

// AddOrganizationSync records that integrationID keeps orgID in sync, once however often it is
// told. An organization the account does not have (deleted since integration-sync decided) is
// left alone. The row is made from the organization's, locked FOR KEY SHARE as the foreign key
// check would lock it: a delete in progress is waited for and then finds the organization gone,
// instead of the insert failing that check after a read that still saw it. The other way round,
// a delete waits for this lock and then sees the new row (store.Subtree walks again).
func (t *Tx) AddOrganizationSync(ctx context.Context, orgID, integrationID string) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO organization_syncs (account_id, organization_id, integration_id)
			SELECT account_id, id, $2 FROM organizations WHERE id = $1 FOR KEY SHARE
			ON CONFLICT DO NOTHING`, orgID, integrationID)
	if err != nil {
		return fmt.Errorf("add organization sync: %w", err)
	}
	return nil
}

// RemoveOrganizationSync records that integrationID no longer keeps orgID in sync.
func (t *Tx) RemoveOrganizationSync(ctx context.Context, orgID, integrationID string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM organization_syncs WHERE organization_id = $1 AND integration_id = $2`, orgID, integrationID)
	if err != nil {
		return fmt.Errorf("remove organization sync: %w", err)
	}
	return nil
}

// RemoveIntegrationSyncs forgets every organization integrationID kept in sync.
func (t *Tx) RemoveIntegrationSyncs(ctx context.Context, integrationID string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM organization_syncs WHERE integration_id = $1`, integrationID)
	if err != nil {
		return fmt.Errorf("remove integration syncs: %w", err)
	}
	return nil
}
