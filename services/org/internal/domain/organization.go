package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// MaxDepth bounds sub-organization nesting: a top-level organization is depth 1.
const MaxDepth = 5

// ReactivationCooldown is how long a deactivated organization stays deactivated before it may
// take a license again (without a platform operator's override).
const ReactivationCooldown = 12 // months

// State is an organization's lifecycle state; the numbers equal the API's OrganizationState.
type State int32

const (
	StateUnspecified State = 0 // in a list filter: any state
	StateActive      State = 1 // holds a license
	StateInactive    State = 2 // deactivated: holds no license
)

// Organization is a client organization of an MSP.
type Organization struct {
	ID                string
	Name              string
	TypeID            string
	StatusID          string
	ParentID          string
	DefaultEngineerID string
	DefaultVCIOID     string
	// GroupIDs are sorted, so equal sets compare and serialize equally.
	GroupIDs []string
	Notes    string
	State    State
	// DeactivatedAt is when it was last deactivated; zero if never.
	DeactivatedAt time.Time
	HasLogo       bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// SortedGroups returns groups sorted, never nil, as organizations hold them.
func SortedGroups(groups []string) []string {
	out := slices.Clone(groups)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

// Visibility is the caller's organization restriction: when Restricted, only organizations in
// one of Groups exist for it (everything else answers not found, like another account's). The
// zero Visibility sees every organization of the account.
type Visibility struct {
	Restricted bool
	Groups     []string
}

// CheckName refuses an empty name; field is the request path of the object ("organization").
func CheckName(field, name string) error {
	if name == "" {
		return apperr.Invalid(field+".name", "is required")
	}
	return nil
}

// Ancestry is what the store found about a would-be parent.
type Ancestry struct {
	// Visible is false when the parent does not exist or the caller may not see it.
	Visible bool
	// Depth is the parent's depth: 1 for a top-level organization.
	Depth int
	// IncludesOrg reports the organization being placed among the parent and its ancestors.
	IncludesOrg bool
}

// CheckParent refuses parentID as the parent of orgID ("" for a new organization): itself, one
// the caller cannot see, one that would close a cycle, or one that would nest deeper than
// MaxDepth. subtreeHeight is the height of the organization being placed (1 for a leaf).
func CheckParent(field, orgID, parentID string, parent Ancestry, subtreeHeight int) error {
	if parentID == "" {
		return nil
	}
	if parentID == orgID {
		return apperr.Invalid(field+".parent_id", "an organization cannot be its own parent")
	}
	if !parent.Visible {
		return apperr.Invalid(field+".parent_id", "is not an organization of this account")
	}
	if parent.IncludesOrg {
		// A conflict with the tree as it stands (often a re-parenting that committed first), not
		// a malformed request: 409, like every other lost race.
		return apperr.Conflict("would create a cycle: the new parent of the organization is one of its own sub-organizations")
	}
	if depth := parent.Depth + subtreeHeight; depth > MaxDepth {
		return apperr.Invalidf(field+".parent_id", "would nest organizations %d levels deep; the limit is %d", depth, MaxDepth)
	}
	return nil
}

// CheckDeactivate refuses to deactivate an organization that is not active.
func (o Organization) CheckDeactivate() error {
	if o.State != StateActive {
		return apperr.FailedPrecondition("the organization is already deactivated")
	}
	return nil
}

// CheckCooldownOverride refuses an override of the 12-month rule by anyone but an operator.
func CheckCooldownOverride(override, operator bool) error {
	if override && !operator {
		return apperr.PermissionDenied("only a platform operator may override the 12-month reactivation rule")
	}
	return nil
}

// CheckReactivate refuses to reactivate an active organization, or one deactivated less than
// ReactivationCooldown months before now unless override. Dates are shown in UTC.
func (o Organization) CheckReactivate(now time.Time, override bool) error {
	if o.State == StateActive {
		return apperr.FailedPrecondition("the organization is already active")
	}
	if o.DeactivatedAt.IsZero() || override {
		return nil
	}
	d := o.DeactivatedAt.UTC()
	allowed := d.AddDate(0, ReactivationCooldown, 0)
	if now.Before(allowed) {
		return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "REACTIVATION_COOLDOWN",
			Message: fmt.Sprintf("the organization was deactivated on %s and can be reactivated from %s (12 months later)",
				d.Format("2006-01-02"), allowed.Format("2006-01-02"))}
	}
	return nil
}

// SubtreeMember is one organization removed with a deleted one (the deleted one included).
type SubtreeMember struct {
	ID       string
	Name     string
	ParentID string
	Active   bool
	// SyncedBy are the integrations that keep it in sync with an external tool, as
	// integration-sync last told (organization_sync.changed).
	SyncedBy []string
}

// CheckDelete refuses to delete rootID while it or a sub-organization of it is kept in sync;
// the first syncing member of subtree is named. by is the integration deleting it (its own sync
// does not stand in its way: it brought the organization in and is letting it go), "" for
// anyone else, whom every sync stops. A conflict with the organization's state (409), like a
// delete that lost a race, rather than a malformed request: disabling sync resolves it.
func CheckDelete(rootID string, subtree []SubtreeMember, by string) error {
	for _, m := range subtree {
		if !slices.ContainsFunc(m.SyncedBy, func(i string) bool { return i != by }) {
			continue
		}
		what := "it"
		if m.ID != rootID {
			what = fmt.Sprintf("its sub-organization %q", m.Name)
		}
		return &apperr.Error{Kind: apperr.KindConflict, Reason: "SYNC_ENABLED",
			Message: fmt.Sprintf("the organization cannot be deleted while %s is kept in sync with an external tool; disable sync first", what)}
	}
	return nil
}

// ActiveCount counts the active members of subtree: the licenses its deletion frees.
func ActiveCount(subtree []SubtreeMember) int {
	n := 0
	for _, m := range subtree {
		if m.Active {
			n++
		}
	}
	return n
}

// CheckBulk refuses a bulk create whose organizations lack a name, repeat one, or set what only
// an update may set (a parent, groups); errors name organizations[i].
func CheckBulk(orgs []Organization) error {
	seen := make(map[string]int, len(orgs))
	for i, o := range orgs {
		field := fmt.Sprintf("organizations[%d]", i)
		switch {
		case o.Name == "":
			return apperr.Invalid(field+".name", "is required")
		case o.ParentID != "":
			return apperr.Invalid(field+".parent_id", "cannot be set in a bulk create; update the organization afterwards")
		case len(o.GroupIDs) > 0:
			return apperr.Invalid(field+".group_ids", "cannot be set in a bulk create; update the organization afterwards")
		}
		if j, dup := seen[o.Name]; dup {
			return apperr.Invalidf(field+".name", "repeats organizations[%d].name", j)
		}
		seen[o.Name] = i
	}
	return nil
}

// OrganizationFilter selects organizations in a list. Zero fields do not filter.
type OrganizationFilter struct {
	// Query is a case-insensitive substring of the name.
	Query      string
	State      State
	GroupID    string
	TypeID     string
	StatusID   string
	EngineerID string
	VCIOID     string
	ParentID   string
}

// Key identifies the filter, so a page token made for one filter is refused for another.
func (f OrganizationFilter) Key() string {
	return strings.Join([]string{f.Query, fmt.Sprint(int32(f.State)), f.GroupID, f.TypeID, f.StatusID,
		f.EngineerID, f.VCIOID, f.ParentID}, "\x00")
}

// OnlyState reports whether the filter selects by state alone (or not at all).
func (f OrganizationFilter) OnlyState() bool {
	return f.Query == "" && f.GroupID == "" && f.TypeID == "" && f.StatusID == "" && f.EngineerID == "" &&
		f.VCIOID == "" && f.ParentID == ""
}

// CheckBulkNamesFree refuses a bulk create whose items take names the account already uses,
// naming the first such item as the request spells it (organizations[i].name).
func CheckBulkNamesFree(in []Organization, taken []string) error {
	for i, o := range in {
		if slices.Contains(taken, o.Name) {
			return apperr.Conflict(fmt.Sprintf("organizations[%d].name: an organization named %q already exists", i, o.Name))
		}
	}
	return nil
}
