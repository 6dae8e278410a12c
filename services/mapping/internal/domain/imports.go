package domain

import (
	"fmt"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// ImportState is where an import is (values as in the API).
type ImportState int16

// Import states.
const (
	ImportRunning   ImportState = 1
	ImportSucceeded ImportState = 2
	ImportFailed    ImportState = 3
)

// Outcome is what an import did with one item (values as in the API); also its plan.
type Outcome int16

// Outcomes.
const (
	OutcomePending  Outcome = 0
	OutcomeCreated  Outcome = 1
	OutcomeLinked   Outcome = 2
	OutcomeRelinked Outcome = 3
	OutcomeFailed   Outcome = 4
)

// Import is an "Add from IT Glue" run.
type Import struct {
	ID, AccountID, IntegrationID, RequestID string
	State                                   ImportState
	Total, Done                             int
	Created, Linked, Relinked, Failed       int
	Error                                   string
	CreatedBy                               string
	Started, Ended                          time.Time
}

// ImportItem is one IT Glue organization of an import.
type ImportItem struct {
	Seq            int
	ExternalID     string
	Name           string
	Outcome        Outcome
	Planned        Outcome
	ChunkRequest   string
	OrganizationID string
	Reason         string
}

// Count adds an item's outcome to the import's counts.
func (im *Import) Count(o Outcome) {
	im.Done++
	switch o {
	case OutcomeCreated:
		im.Created++
	case OutcomeLinked:
		im.Linked++
	case OutcomeRelinked:
		im.Relinked++
	case OutcomeFailed:
		im.Failed++
	}
}

// ImportChunk is how many items one step of an import plans, creates and links together: one
// bulk create and one transaction.
const ImportChunk = 1000

// OverLicenses refuses an import that would create more organizations than the account may,
// before anything is written, saying how many fit.
func OverLicenses(creates, remaining int) error {
	return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "LICENSE_LIMIT",
		Message: fmt.Sprintf("the selection would create %d organizations and %d licenses remain: select at most %d that need a new organization",
			creates, remaining, remaining)}
}

// PlanItem decides what an import does with one IT Glue organization, by exact (case-sensitive)
// name: no organization of that name → create; one with no link in the integration → link; one
// linked to another IT Glue organization → relink. One already linked to this very IT Glue
// organization was imported meanwhile (by another import or a user): it fails, "already imported",
// as it does when the import starts.
func PlanItem(orgExists bool, linkedExternal, itemExternal string) (Outcome, string) {
	switch {
	case !orgExists:
		return OutcomeCreated, ""
	case linkedExternal == "":
		return OutcomeLinked, ""
	case linkedExternal == itemExternal:
		return OutcomeFailed, "already imported"
	default:
		return OutcomeRelinked, ""
	}
}

// Visible reports whether a caller restricted to groups sees an organization in orgGroups (org's
// rule: at least one group in common); an unrestricted caller sees every one.
func Visible(restricted bool, groups, orgGroups []string) bool {
	if !restricted {
		return true
	}
	for _, g := range orgGroups {
		for _, h := range groups {
			if g == h {
				return true
			}
		}
	}
	return false
}
