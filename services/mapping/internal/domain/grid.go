package domain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// GridFilter narrows the grid's rows (values as in the API).
type GridFilter int16

// Grid filters.
const (
	FilterAll      GridFilter = 0
	FilterUnmapped GridFilter = 1
	FilterMapped   GridFilter = 2
	FilterOrphaned GridFilter = 3
)

// ExternalOrphaned is the external organization state "orphaned" (integration-sync's number).
const ExternalOrphaned = 2

// Cell is an organization's link in one integration, with its external organization's state.
type Cell struct {
	IntegrationID string
	ExternalID    string
	ExternalName  string
	State         int16
	Method        Method
}

// Row is one organization of the grid.
type Row struct {
	OrganizationID string
	Name           string
	ParentID       string
	Active         bool
	Version        int64
	Cells          []Cell
}

// Change is one cell's change in a batch save: link (or relink) ExternalID, or unlink when it is
// empty.
type Change struct {
	OrganizationID string
	Version        int64
	IntegrationID  string
	ExternalID     string
}

// More sentinel errors.
var (
	ErrIntegrationNotFound = apperr.NotFound("integration not found")
	ErrImportNotFound      = apperr.NotFound("import not found")
	// ErrNotITGlue refuses an import from an integration of another kind.
	ErrNotITGlue = apperr.FailedPrecondition("only an IT Glue integration imports organizations")
)

// CheckBatch refuses a batch that changes one cell twice; errors name changes[i].
func CheckBatch(changes []Change) error {
	seen := map[[2]string]int{}
	for i, c := range changes {
		k := [2]string{c.OrganizationID, c.IntegrationID}
		if j, dup := seen[k]; dup {
			return apperr.Invalidf(fmt.Sprintf("changes[%d]", i), "changes the same organization and integration as changes[%d]", j)
		}
		seen[k] = i
	}
	return nil
}

// RowsChanged is the 409 of a batch whose rows were changed since they were read: it names them
// (in the message, and as organizationIds in the ErrorInfo for a client to mark them) and nothing
// of the batch is applied.
func RowsChanged(ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return &apperr.Error{Kind: apperr.KindConflict, Reason: "ROWS_CHANGED",
		Message:  "these rows changed since they were read; read them again and retry: " + strings.Join(ids, ", "),
		Metadata: map[string]string{"organizationIds": strings.Join(ids, ",")}}
}

// ExternalTaken is the 409 of a change linking an external organization another row holds;
// organizationID is empty when a concurrent batch took it and the holder is not known.
func ExternalTaken(i int, externalID, organizationID string) error {
	md := map[string]string{"change": strconv.Itoa(i), "externalOrganizationId": externalID}
	holder := "another organization"
	if organizationID != "" {
		md["organizationId"] = organizationID
		holder = "organization " + organizationID
	}
	return &apperr.Error{Kind: apperr.KindConflict, Reason: "EXTERNAL_ORGANIZATION_LINKED", Metadata: md,
		Message: fmt.Sprintf("changes[%d]: external organization %s is linked to %s; unlink it there in the same batch", i, externalID, holder)}
}

// Licenses is the account's license count, and whether it may change anything (a canceled or
// past-due subscription makes it read-only).
type Licenses struct {
	Unlimited   bool
	Limit, Used int
	Writable    bool
}

// Remaining is how many more organizations may be created (-1: no limit).
func (l Licenses) Remaining() int {
	if l.Unlimited {
		return -1
	}
	return max(l.Limit-l.Used, 0)
}

// Integration is a grid column.
type Integration struct {
	ID, Kind, DisplayName string
	LastRefresh           time.Time
	Refreshing            bool
}

// ErrSubscriptionInactive refuses a member's change while the account's subscription is canceled
// or past due: the account is read-only.
var ErrSubscriptionInactive = &apperr.Error{Kind: apperr.KindPermissionDenied, Reason: "SUBSCRIPTION_INACTIVE",
	Message: "the account's subscription is canceled or past due: the account is read-only until the subscription is reactivated"}

// NotFoundAt is a batch's refusal naming the change whose organization, integration or external
// organization does not exist (or is not visible to the caller).
func NotFoundAt(field, msg string) error {
	return &apperr.Error{Kind: apperr.KindNotFound, Field: field, Message: field + ": " + msg}
}
