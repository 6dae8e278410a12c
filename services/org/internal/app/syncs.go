package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/events"
)

// OrganizationSyncChanged records whether an integration keeps an organization in sync, as
// integration-sync says (consumer org-syncs, in its transaction, scoped to the event's
// account): the syncing guard of DeleteOrganization reads it. Applying the same news twice
// changes nothing; news of an organization the account no longer has is dropped.
func (s *Service) OrganizationSyncChanged(ctx context.Context, tx pgx.Tx, orgID, integrationID string, syncing bool) error {
	if err := validSyncIDs(orgID, integrationID); err != nil {
		return err
	}
	st := s.store.Within(tx)
	if syncing {
		return st.AddOrganizationSync(ctx, orgID, integrationID)
	}
	return st.RemoveOrganizationSync(ctx, orgID, integrationID)
}

// IntegrationDeleted forgets every organization a deleted integration kept in sync (consumer
// org-syncs): nothing syncs through it any more, so it blocks no deletion.
func (s *Service) IntegrationDeleted(ctx context.Context, tx pgx.Tx, integrationID string) error {
	if err := validSyncIDs(integrationID); err != nil {
		return err
	}
	return s.store.Within(tx).RemoveIntegrationSyncs(ctx, integrationID)
}

// validSyncIDs sets an event with a malformed id aside (dead letter): no retry can mend it, and
// retrying would hold up the account's later events.
func validSyncIDs(ids ...string) error {
	for _, id := range ids {
		if _, err := uuid.Parse(id); err != nil {
			return events.Permanent(fmt.Errorf("sync event with an invalid id %q", id))
		}
	}
	return nil
}
