package app

import (
	"cmp"
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
// its transaction; ARCHITECTURE.md flow 5), publishing mapping.unlinked for each link. It
// remembers the deletion, under the lock the PSA sync's linking takes, so a link asked for
// later is refused rather than left behind.
func (s *Service) OrganizationDeleted(ctx context.Context, tx pgx.Tx, accountID, organizationID string) error {
	st := s.store.Within(tx)
	if err := st.LockOrganizationLinks(ctx, organizationID); err != nil {
		return err
	}
	if err := st.RememberDeleted(ctx, accountID, organizationID, s.clock()); err != nil {
		return err
	}
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
// orphaned one shows its link orphaned in the grid. linkOrganizationID, set when the PSA sync
// made one of the pair from the other, links the two.
func (s *Service) ExternalChanged(ctx context.Context, tx pgx.Tx, accountID string, e *integrationsyncv1.ExternalOrganization, linkOrganizationID string) error {
	if _, err := uuid.Parse(e.GetIntegrationId()); err != nil || e.GetExternalId() == "" {
		return events.Permanent(fmt.Errorf("external organization event without an integration or external id"))
	}
	if linkOrganizationID != "" {
		if _, err := uuid.Parse(linkOrganizationID); err != nil {
			return events.Permanent(fmt.Errorf("external organization event with an invalid link organization id %q", linkOrganizationID))
		}
	}
	st := s.store.Within(tx)
	if err := st.UpsertExternal(ctx, accountID, e.GetIntegrationKind(), store.ExternalCopy{
		IntegrationID: e.GetIntegrationId(), ExternalID: e.GetExternalId(), Name: e.GetName(), ParentID: e.GetParentExternalId(),
		State: int16(e.GetState()), Deleted: e.GetDeleted()}); err != nil {
		return err
	}
	if linkOrganizationID == "" {
		return nil
	}
	return s.linkBySync(ctx, st, accountID, linkOrganizationID, e)
}

// syncActor is who the PSA sync's links are made and removed by.
const syncActor = "integration-sync"

// linkBySync links an organization and the company the PSA sync made of it (or it of the
// company), unless either is linked already: a person's mapping, or an import's, wins over the
// sync's. The organization's copy need not exist yet (org's events come on another stream), but
// one org deleted is never linked.
func (s *Service) linkBySync(ctx context.Context, st *store.Tx, accountID, organizationID string, e *integrationsyncv1.ExternalOrganization) error {
	log := s.log.With("account", accountID, "organization", organizationID, "integration", e.GetIntegrationId(),
		"external_organization", e.GetExternalId())
	if err := st.LockOrganizationLinks(ctx, organizationID); err != nil {
		return err
	}
	if gone, err := st.WasDeleted(ctx, organizationID); err != nil {
		return err
	} else if gone {
		log.DebugContext(ctx, "sync link not made: the organization was deleted")
		return nil
	}
	// The grid row before the link, the order batch saves and imports lock them in: the other
	// order deadlocks with a batch save linking the same organization.
	if _, err := st.LockRows(ctx, false, nil, []string{organizationID}); err != nil {
		return err
	}
	now := s.clock()
	l := domain.Link{AccountID: accountID, OrganizationID: organizationID, IntegrationID: e.GetIntegrationId(),
		ExternalOrganizationID: e.GetExternalId(), ExternalName: e.GetName(), Method: domain.MethodSync, CreatedBy: syncActor, Created: now}
	id, ok, err := st.InsertLinkIfFree(ctx, l)
	if err != nil {
		return err
	}
	if !ok {
		// Also the way a second event naming the same pair ends: already so.
		log.DebugContext(ctx, "sync link not made: the organization or the external organization is linked already")
		return nil
	}
	l.ID = id
	if err := st.BumpVersions(ctx, []string{organizationID}); err != nil {
		return err
	}
	return st.Enqueue(ctx, &mappingv1.MappingLinked{AccountId: accountID, Link: pbconv.Link(l)}, now)
}

// ExternalRemoved forgets an external organization integration-sync forgot (an orphan resolved)
// and drops its link, publishing mapping.unlinked (consumer mapping-externals).
func (s *Service) ExternalRemoved(ctx context.Context, tx pgx.Tx, ev *integrationsyncv1.ExternalOrganizationRemoved) error {
	integrationID, externalID := ev.GetIntegrationId(), ev.GetExternalId()
	if _, err := uuid.Parse(integrationID); err != nil || externalID == "" {
		return events.Permanent(fmt.Errorf("external organization removed without an integration or external id"))
	}
	st := s.store.Within(tx)
	// The locks linkBySync takes, in its order: a removal racing the organization's deletion
	// (mapping-links) or a batch save would deadlock with them otherwise.
	if cur, has, err := st.LinkOfExternal(ctx, integrationID, externalID); err != nil {
		return err
	} else if has {
		if err := st.LockOrganizationLinks(ctx, cur.OrganizationID); err != nil {
			return err
		}
		if _, err := st.LockRows(ctx, false, nil, []string{cur.OrganizationID}); err != nil {
			return err
		}
	}
	l, had, err := st.DeleteExternalLink(ctx, integrationID, externalID)
	if err != nil {
		return err
	}
	if err := st.DeleteExternal(ctx, integrationID, externalID); err != nil {
		return err
	}
	if !had {
		return nil
	}
	if err := st.BumpVersions(ctx, []string{l.OrganizationID}); err != nil {
		return err
	}
	return st.Enqueue(ctx, &mappingv1.MappingUnlinked{AccountId: ev.GetAccountId(), Link: pbconv.Link(l),
		RemovedBy: cmp.Or(ev.GetRemovedBy(), syncActor)}, s.clock())
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
