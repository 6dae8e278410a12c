package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/pbconv"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// OrganizationChanged keeps the copy of an organization (consumer mapping-organizations, in its
// transaction): created, updated, deactivated, reactivated all carry it as it is now.
func (s *Service) OrganizationChanged(ctx context.Context, tx pgx.Tx, accountID string, o *orgv1.Organization) error {
	if _, err := uuid.Parse(o.GetId()); err != nil {
		// Retrying cannot mend it: set it aside (dead letter) rather than stall the consumer.
		return events.Permanent(fmt.Errorf("organization event without a valid organization id %q", o.GetId()))
	}
	return s.store.Within(tx).UpsertOrganization(ctx, accountID, store.OrgCopy{ID: o.GetId(), Name: o.GetName(),
		ParentID: o.GetParentId(), GroupIDs: o.GetGroupIds(), Active: o.GetState() == orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE,
		Updated: o.GetUpdateTime().AsTime()})
}

// OrganizationDeleted drops a deleted organization's links and copy (consumer mapping-links, in
// its transaction; ARCHITECTURE.md flow 5), publishing mapping.unlinked for each link.
func (s *Service) OrganizationDeleted(ctx context.Context, tx pgx.Tx, accountID, organizationID string) error {
	st := s.store.Within(tx)
	links, err := st.DeleteOrganizationLinks(ctx, organizationID)
	if err != nil {
		return err
	}
	if err := st.DeleteOrganization(ctx, organizationID); err != nil {
		return err
	}
	return st.EnqueueBatch(ctx, unlinkedEvents(accountID, links, "organization.deleted"), s.clock())
}

// ForgetOrganization drops a deleted organization's copy (consumer mapping-organizations; its
// links go in mapping-links).
func (s *Service) ForgetOrganization(ctx context.Context, tx pgx.Tx, organizationID string) error {
	return s.store.Within(tx).DeleteOrganization(ctx, organizationID)
}

// ExternalChanged keeps the copy of an external organization (consumer mapping-externals): an
// orphaned one shows its link orphaned in the grid.
func (s *Service) ExternalChanged(ctx context.Context, tx pgx.Tx, accountID string, e *integrationsyncv1.ExternalOrganization) error {
	if _, err := uuid.Parse(e.GetIntegrationId()); err != nil || e.GetExternalId() == "" {
		return events.Permanent(fmt.Errorf("external organization event without an integration or external id"))
	}
	return s.store.Within(tx).UpsertExternal(ctx, accountID, e.GetIntegrationKind(), store.ExternalCopy{
		IntegrationID: e.GetIntegrationId(), ExternalID: e.GetExternalId(), Name: e.GetName(), ParentID: e.GetParentExternalId(),
		State: int16(e.GetState()), Deleted: e.GetDeleted()})
}

// IntegrationCreated records a new integration (a grid column).
func (s *Service) IntegrationCreated(ctx context.Context, tx pgx.Tx, accountID, integrationID, kind string) error {
	return s.store.Within(tx).UpsertIntegration(ctx, accountID, integrationID, kind)
}

// IntegrationDeleted drops a disconnected integration's links and copies, publishing
// mapping.unlinked for each link. Organizations stay: unlinking never deletes one.
func (s *Service) IntegrationDeleted(ctx context.Context, tx pgx.Tx, accountID, integrationID string) error {
	st := s.store.Within(tx)
	links, err := st.DeleteIntegrationLinks(ctx, integrationID)
	if err != nil {
		return err
	}
	ids := make([]string, len(links))
	for i, l := range links {
		ids[i] = l.OrganizationID
	}
	if err := st.BumpVersions(ctx, ids); err != nil {
		return err
	}
	if err := st.DeleteIntegration(ctx, integrationID); err != nil {
		return err
	}
	return st.EnqueueBatch(ctx, unlinkedEvents(accountID, links, "integration.deleted"), s.clock())
}

func unlinkedEvents(accountID string, links []domain.Link, by string) []proto.Message {
	out := make([]proto.Message, len(links))
	for i, l := range links {
		out[i] = &mappingv1.MappingUnlinked{AccountId: accountID, Link: pbconv.Link(l), RemovedBy: by}
	}
	return out
}
