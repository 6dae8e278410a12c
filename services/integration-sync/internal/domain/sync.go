package domain

import (
	"slices"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

// SyncDirection says which way a PSA integration syncs (values as in the API).
type SyncDirection int16

// Sync directions.
const (
	SyncOff     SyncDirection = 1
	SyncFromPSA SyncDirection = 2
	SyncTwoWay  SyncDirection = 3
)

// SyncScope says what syncs; an empty list means all.
type SyncScope struct {
	PSATypeIDs            []string `json:"psaTypeIds,omitempty"`
	PSAStatusIDs          []string `json:"psaStatusIds,omitempty"`
	OrganizationTypeIDs   []string `json:"organizationTypeIds,omitempty"`
	OrganizationStatusIDs []string `json:"organizationStatusIds,omitempty"`
}

// SyncSettings are a PSA integration's direction and scope.
type SyncSettings struct {
	Direction SyncDirection
	Scope     SyncScope
	Mappings  ValueMappings
	Updated   time.Time
}

// ReasonOutOfScope is the orphan reason of a company outside the sync scope.
const ReasonOutOfScope = "out of the sync scope"

// ErrNotPSA refuses sync settings on an integration that is not a PSA.
var ErrNotPSA = apperr.FailedPrecondition("sync settings apply to PSA integrations (ConnectWise, Autotask) only")

// InScope reports whether a PSA company is inside the scope: its type and status among the
// listed ones (an empty list admits all).
func (s SyncScope) InScope(c connector.Company) bool {
	return (len(s.PSATypeIDs) == 0 || slices.Contains(s.PSATypeIDs, c.TypeID)) &&
		(len(s.PSAStatusIDs) == 0 || slices.Contains(s.PSAStatusIDs, c.StatusID))
}

// Preview counts, over an integration's cached companies, what a new scope would change: the
// syncing ones it would leave out, the ones orphaned for the scope it would take back, and how
// many would sync.
func Preview(scope SyncScope, cached []ExternalOrganization) (stop, start, in int) {
	for _, e := range cached {
		c := connector.Company{TypeID: e.TypeID, StatusID: e.StatusID}
		ok := scope.InScope(c)
		switch {
		case e.Deleted:
		case e.State == ExternalSyncing && !ok:
			stop++
		case e.State == ExternalOrphaned && e.StateReason == ReasonOutOfScope && ok:
			start++
		}
		if ok && !e.Deleted && (e.State == ExternalSyncing || e.StateReason == ReasonOutOfScope) {
			in++
		}
	}
	return stop, start, in
}
