package domain

import (
	"strings"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

// Change is what reconciling one listed company with its cached copy did.
type Change int

// Changes.
const (
	Unchanged Change = iota
	Created
	Changed
	Orphaned
)

// Orphan reasons, shown in the orphans list.
const (
	ReasonDeleted  = "deleted in the tool"
	ReasonGone     = "gone from the tool's full listing"
	ReasonNotFound = "no longer found in the tool"
)

// Reconcile merges a company as the tool listed it into its cached copy (nil when never seen)
// and says what changed. A company the tool flags deleted becomes orphaned; an orphan that
// reappears alive syncs again. by says who saw it ("refresh", "webhook").
//
// A company outside the sync scope (inScope false) is orphaned too, and one orphaned for the
// scope comes back once the scope takes it in again.
func Reconcile(cached *ExternalOrganization, seen connector.Company, inScope bool, at time.Time, by string) (ExternalOrganization, Change) {
	var next ExternalOrganization
	if cached != nil {
		next = *cached
	}
	next.ExternalID = seen.ExternalID
	next.Name = strings.TrimSpace(seen.Name)
	next.TypeID, next.TypeName = seen.TypeID, seen.TypeName
	next.StatusID, next.StatusName = seen.StatusID, seen.StatusName
	next.ParentID = seen.ParentID
	next.Active, next.Deleted = seen.Active, seen.Deleted
	next.VendorUpdated = seen.UpdatedAt.UTC()
	next.LastSeen = at

	gone := ""
	switch {
	case seen.Deleted:
		gone = ReasonDeleted
	case !inScope:
		gone = ReasonOutOfScope
	}
	if cached == nil {
		next.State, next.StateAt, next.StateBy = ExternalSyncing, at, by
		if gone != "" {
			next.State, next.StateReason = ExternalOrphaned, gone
			return next, Orphaned
		}
		return next, Created
	}
	switch {
	case gone != "" && cached.State != ExternalOrphaned:
		next.State, next.StateReason, next.StateAt, next.StateBy = ExternalOrphaned, gone, at, by
		return next, Orphaned
	case gone == "" && cached.State == ExternalSyncDisabled:
		// Sync turned off for it by a person: a refresh keeps it so (its fields still update).
		if sameVendorFields(*cached, next) {
			return next, Unchanged
		}
		return next, Changed
	case gone == "" && cached.State == ExternalOrphaned: // seen again, alive and in scope
		next.State, next.StateReason, next.StateAt, next.StateBy = ExternalSyncing, "", at, by
		return next, Changed
	}
	if sameVendorFields(*cached, next) {
		return next, Unchanged
	}
	return next, Changed
}

func sameVendorFields(a, b ExternalOrganization) bool {
	return a.Name == b.Name && a.TypeID == b.TypeID && a.TypeName == b.TypeName && a.StatusID == b.StatusID &&
		a.StatusName == b.StatusName && a.ParentID == b.ParentID && a.Active == b.Active && a.Deleted == b.Deleted &&
		a.VendorUpdated.Equal(b.VendorUpdated)
}

// Orphan marks a cached organization orphaned for reason; it returns false when it already was.
func Orphan(cached ExternalOrganization, reason string, at time.Time, by string) (ExternalOrganization, bool) {
	if cached.State == ExternalOrphaned {
		return cached, false
	}
	cached.State, cached.StateReason, cached.StateAt, cached.StateBy = ExternalOrphaned, reason, at, by
	return cached, true
}

// ErrExternalNotFound: no such cached external organization.
var ErrExternalNotFound = apperr.NotFound("external organization not found")

// SetSyncDisabled turns sync off (or on again) for a cached organization. An orphan cannot be
// disabled (there is nothing left to sync); enabling sets it syncing, and the next refresh
// corrects the state if the tool says otherwise.
func SetSyncDisabled(e ExternalOrganization, disabled bool, at time.Time, by string) (ExternalOrganization, bool, error) {
	switch {
	case disabled && e.State == ExternalSyncDisabled, !disabled && e.State != ExternalSyncDisabled:
		return e, false, nil
	case disabled && e.State == ExternalOrphaned:
		return e, false, apperr.FailedPrecondition("the external organization is orphaned: there is no sync to disable")
	}
	e.StateReason, e.StateAt, e.StateBy = "", at, by
	e.State = ExternalSyncing
	if disabled {
		e.State, e.StateReason = ExternalSyncDisabled, "sync disabled"
	}
	return e, true, nil
}
