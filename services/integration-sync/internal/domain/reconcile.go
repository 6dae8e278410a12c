package domain

import (
	"strings"
	"time"

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
func Reconcile(cached *ExternalOrganization, seen connector.Company, at time.Time, by string) (ExternalOrganization, Change) {
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

	if cached == nil {
		next.State, next.StateAt, next.StateBy = ExternalSyncing, at, by
		if seen.Deleted {
			next.State, next.StateReason = ExternalOrphaned, ReasonDeleted
			return next, Orphaned
		}
		return next, Created
	}
	switch {
	case seen.Deleted && cached.State != ExternalOrphaned:
		next.State, next.StateReason, next.StateAt, next.StateBy = ExternalOrphaned, ReasonDeleted, at, by
		return next, Orphaned
	case !seen.Deleted && cached.State == ExternalOrphaned:
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
