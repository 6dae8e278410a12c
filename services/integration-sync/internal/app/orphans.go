package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// OrphanAction is what ResolveOrphans does with each orphan (values as in the API).
type OrphanAction int16

// Orphan actions.
const (
	// OrphanUnlink forgets the company and its link; the organization stays.
	OrphanUnlink OrphanAction = 1
	// OrphanDeleteOrganization deletes the linked organization (with its sub-organizations, as
	// the caller), then forgets the company.
	OrphanDeleteOrganization OrphanAction = 2
	// OrphanDismiss keeps everything and takes the orphan off the orphans list.
	OrphanDismiss OrphanAction = 3
)

// OrphanRef names one orphan.
type OrphanRef struct{ IntegrationID, ExternalID string }

// OrphanResult is what happened to one orphan.
type OrphanResult struct {
	OrphanRef
	OK bool
	// ErrorReason is a stable reason when not OK: ORPHAN_NOT_FOUND, NOT_ORPHANED, NOT_LINKED, or
	// the org service's own.
	ErrorReason, ErrorMessage string
	// DeletedOrganizationIDs are the organizations a DELETE_ORGANIZATION removed.
	DeletedOrganizationIDs []string
}

// Reasons an orphan was not resolved.
const (
	ReasonOrphanNotFound = "ORPHAN_NOT_FOUND"
	ReasonNotOrphaned    = "NOT_ORPHANED"
	ReasonNotLinked      = "NOT_LINKED"
)

// Sync log actions of the orphan actions and of a disconnect that deletes the data.
const (
	LogOrphanUnlinked      = "orphan_unlinked"
	LogOrphanDeleted       = "orphan_deleted"
	LogOrphanDismissed     = "orphan_dismissed"
	LogDeletedOnDisconnect = "disconnect_deleted"
)

// refusal is why one orphan cannot be resolved: its result, not the call's error.
type refusal struct{ reason, message string }

func (r refusal) Error() string { return r.reason + ": " + r.message }

// ResolveOrphans does action to each orphan, each in its own transaction: one refused or
// failed leaves the others done, and the results come back in request order.
func (s *Service) ResolveOrphans(ctx context.Context, accountID string, action OrphanAction, refs []OrphanRef) ([]OrphanResult, error) {
	id, err := s.writer(ctx, accountID)
	if err != nil {
		return nil, err
	}
	switch action {
	case OrphanUnlink, OrphanDeleteOrganization, OrphanDismiss:
	default:
		return nil, apperr.Invalid("action", "must be ORPHAN_ACTION_UNLINK, ORPHAN_ACTION_DELETE_ORGANIZATION or ORPHAN_ACTION_DISMISS")
	}
	if len(refs) == 0 {
		return nil, apperr.Invalid("orphans", "names no orphan")
	}
	// Organizations deleted by this call, sub-organizations included: a child orphan whose
	// organization went with its parent's is resolved, not refused as not found.
	deleted := map[string]bool{}
	out := make([]OrphanResult, len(refs))
	for i, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i] = s.resolveOrphan(ctx, accountID, id.Actor(), action, ref, deleted)
	}
	return out, nil
}

func (s *Service) resolveOrphan(ctx context.Context, accountID, by string, action OrphanAction, ref OrphanRef, deleted map[string]bool) OrphanResult {
	res := OrphanResult{OrphanRef: ref}
	if _, err := uuid.Parse(ref.IntegrationID); err != nil {
		return s.refused(res, refusal{ReasonOrphanNotFound, "no such orphan"})
	}
	var orgID string
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		e, err := lockOrphan(ctx, tx, ref)
		if err != nil {
			return err
		}
		now := s.clock()
		entry := domain.SyncLogEntry{AccountID: accountID, IntegrationID: ref.IntegrationID, At: now, Side: domain.FromPSA,
			OrganizationID: e.OrganizationID, ExternalID: e.ExternalID}
		switch action {
		case OrphanUnlink:
			if err := forget(ctx, tx, e, by, now); err != nil {
				return err
			}
			entry.Action, entry.Message = LogOrphanUnlinked, "orphan unlinked by "+by+": the organization stays"
		case OrphanDismiss:
			if err := tx.DismissOrphan(ctx, e.IntegrationID, e.ExternalID, now); err != nil {
				return err
			}
			entry.Action, entry.Message = LogOrphanDismissed, "orphan dismissed by "+by
		case OrphanDeleteOrganization:
			if e.OrganizationID == "" {
				return refusal{ReasonNotLinked, "the orphan is linked to no organization"}
			}
			orgID = e.OrganizationID
			return nil // deleted by org, outside this transaction
		}
		return tx.AppendSyncLog(ctx, entry)
	})
	if err != nil {
		return s.refused(res, err)
	}
	if action != OrphanDeleteOrganization {
		res.OK = true
		return res
	}

	var ids []string
	if !deleted[orgID] {
		// As the caller: org checks its permission and visibility, and refuses an organization
		// that still syncs with another integration.
		if ids, err = s.orgs.Delete(ctx, accountID, orgID); err != nil {
			return s.refused(res, err)
		}
		for _, d := range ids {
			deleted[d] = true
		}
	}
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cached, err := tx.ExternalsForUpdate(ctx, ref.IntegrationID, []string{ref.ExternalID})
		if err != nil {
			return err
		}
		e, ok := cached[ref.ExternalID]
		// org's organization.deleted may have unlinked it already; linked to another
		// organization meanwhile, it is no longer this orphan.
		if !ok || (e.OrganizationID != orgID && e.OrganizationID != "") {
			return nil
		}
		e.OrganizationID = orgID
		now := s.clock()
		if err := forget(ctx, tx, e, by, now); err != nil {
			return err
		}
		msg := "orphan's organization deleted by " + by
		if n := len(ids) - 1; n > 0 {
			msg += fmt.Sprintf(", with %d sub-organizations", n)
		}
		return tx.AppendSyncLog(ctx, domain.SyncLogEntry{AccountID: accountID, IntegrationID: ref.IntegrationID, At: now,
			Side: domain.FromPSA, Action: LogOrphanDeleted, OrganizationID: orgID, ExternalID: ref.ExternalID, Message: msg})
	})
	if err != nil {
		// The organization is gone; forgetting the company failed and may be asked again: the
		// orphan is then NOT_LINKED (org's deletion unlinks it) or resolved by UNLINK.
		return s.refused(res, err)
	}
	res.OK, res.DeletedOrganizationIDs = true, ids
	return res
}

// refused fills a result's error from err: a refusal or a classified error as it stands (the
// org service's reason and words), anything else as a generic failure, logged.
func (s *Service) refused(res OrphanResult, err error) OrphanResult {
	var r refusal
	if errors.As(err, &r) {
		res.ErrorReason, res.ErrorMessage = r.reason, r.message
		return res
	}
	if e, ok := apperr.As(err); ok && e.Kind != apperr.KindInternal {
		res.ErrorReason, res.ErrorMessage = e.Reason, e.Message
		if res.ErrorReason == "" {
			res.ErrorReason = strings.ToUpper(e.Kind.String())
		}
		return res
	}
	s.log.Error("resolve orphan", "integration", res.IntegrationID, "external", res.ExternalID, "error", err)
	res.ErrorReason, res.ErrorMessage = "INTERNAL", "the orphan could not be resolved; try again"
	return res
}

// lockOrphan reads and locks an orphan that is on the orphans list.
func lockOrphan(ctx context.Context, tx *store.Tx, ref OrphanRef) (domain.ExternalOrganization, error) {
	cached, err := tx.ExternalsForUpdate(ctx, ref.IntegrationID, []string{ref.ExternalID})
	if err != nil {
		return domain.ExternalOrganization{}, err
	}
	e, ok := cached[ref.ExternalID]
	switch {
	case !ok:
		return e, refusal{ReasonOrphanNotFound, "no such orphan"}
	case e.State != domain.ExternalOrphaned:
		return e, refusal{ReasonNotOrphaned, "the external organization is not an orphan"}
	case !e.Dismissed.IsZero():
		return e, refusal{ReasonNotOrphaned, "the orphan was dismissed"}
	}
	return e, nil
}

// forget drops a cached company and its link: org hears that the pair no longer syncs, mapping
// that the link is gone (external_organization.removed). A refresh that lists the company again
// caches it anew.
func forget(ctx context.Context, tx *store.Tx, e domain.ExternalOrganization, by string, at time.Time) error {
	if err := tx.ClearLink(ctx, e.IntegrationID, e.ExternalID, ""); err != nil {
		return err
	}
	if err := tx.PublishSyncing(ctx, e.AccountID, e.IntegrationID, []string{e.ExternalID}, at); err != nil {
		return err
	}
	if err := tx.Enqueue(ctx, &integrationsyncv1.ExternalOrganizationRemoved{AccountId: e.AccountID, IntegrationId: e.IntegrationID,
		ExternalId: e.ExternalID, OrganizationId: e.OrganizationID, RemovedBy: by}, at); err != nil {
		return err
	}
	return tx.DeleteExternal(ctx, e.IntegrationID, e.ExternalID)
}
