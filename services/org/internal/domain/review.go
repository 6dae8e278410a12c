package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
)

// ReviewStatus is how far a review is; the numbers are stored and equal the API's ReviewStatus.
type ReviewStatus int16

const (
	ReviewStatusUnspecified ReviewStatus = 0 // on create: not started
	ReviewStatusNotStarted  ReviewStatus = 1
	ReviewStatusInProgress  ReviewStatus = 2
	ReviewStatusCompleted   ReviewStatus = 3
)

// ReviewRole is the part an assignee plays in a review; the numbers equal the API's ReviewRole.
type ReviewRole int32

const (
	ReviewRoleEngineer ReviewRole = 1
	ReviewRoleVCIO     ReviewRole = 2
)

// Review is a periodic review of an organization by its engineer and vCIO. Due dates are
// calendar dates, "YYYY-MM-DD", or "" when not set; an empty assignee is unassigned.
type Review struct {
	ID              string
	OrganizationID  string
	Title           string
	EngineerID      string
	EngineerDueDate string
	VCIOID          string
	VCIODueDate     string
	Status          ReviewStatus
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ErrBadDueDate refuses a due date that is not a day of the calendar (2026-02-30).
var ErrBadDueDate = apperr.Invalid("due_date", "is not a calendar date")

// CheckDueDate accepts "" (no due date) or a real calendar date written YYYY-MM-DD.
func CheckDueDate(d string) error {
	if d == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, d)
	if err != nil || t.Year() < 1 { // the database has no year 0
		return ErrBadDueDate
	}
	return nil
}

// NewReview is a review of org as requested: a missing assignee is the organization's default
// one, a missing status "not started".
func NewReview(in Review, org Organization) (Review, error) {
	in.OrganizationID = org.ID
	if in.EngineerID == "" {
		in.EngineerID = org.DefaultEngineerID
	}
	if in.VCIOID == "" {
		in.VCIOID = org.DefaultVCIOID
	}
	if in.Status == ReviewStatusUnspecified {
		in.Status = ReviewStatusNotStarted
	}
	if err := CheckDueDate(in.EngineerDueDate); err != nil {
		return Review{}, err
	}
	if err := CheckDueDate(in.VCIODueDate); err != nil {
		return Review{}, err
	}
	return in, nil
}

// Reassignment changes a review's assignees and due dates: a nil field is left as it is, an
// empty one clears it.
type Reassignment struct {
	EngineerID      *string
	EngineerDueDate *string
	VCIOID          *string
	VCIODueDate     *string
}

// Check refuses a reassignment that names nothing to change.
func (a Reassignment) Check() error {
	if a.EngineerID == nil && a.VCIOID == nil && a.EngineerDueDate == nil && a.VCIODueDate == nil {
		return apperr.Invalid("engineer_id", "nothing to change: give engineer_id, vcio_id or a due date")
	}
	return nil
}

// Apply returns r reassigned, refusing a reassignment that changes nothing or sets a due date
// that is not a calendar date.
func (r Review) Apply(a Reassignment) (Review, error) {
	if err := a.Check(); err != nil {
		return Review{}, err
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.EngineerID, a.EngineerID)
	set(&r.EngineerDueDate, a.EngineerDueDate)
	set(&r.VCIOID, a.VCIOID)
	set(&r.VCIODueDate, a.VCIODueDate)
	if err := CheckDueDate(r.EngineerDueDate); err != nil {
		return Review{}, err
	}
	if err := CheckDueDate(r.VCIODueDate); err != nil {
		return Review{}, err
	}
	return r, nil
}

// CheckAssigneesActive refuses assigning an inactive user: an assignee who cannot sign in would
// own the review unseen. engineerID and vcioID are the users being assigned ("" for none);
// inactive holds those of them that are not active; prefix is the assignees' path in the request
// ("review." on create, "" on reassignment).
func CheckAssigneesActive(prefix, engineerID, vcioID string, inactive map[string]bool) error {
	if engineerID != "" && inactive[engineerID] {
		return apperr.Invalid(prefix+"engineer_id", "is an inactive user; reactivate the user or assign an active one")
	}
	if vcioID != "" && inactive[vcioID] {
		return apperr.Invalid(prefix+"vcio_id", "is an inactive user; reactivate the user or assign an active one")
	}
	return nil
}

// OwnerChange is one assignment a reassignment changed: who had the role, who has it now, and
// the due date that comes with it.
type OwnerChange struct {
	Role     ReviewRole
	Previous string
	New      string
	DueDate  string
}

// OwnerChanges lists the assignments that differ between before and after, engineer first; a
// due date moving alone changes no owner.
func OwnerChanges(before, after Review) []OwnerChange {
	var out []OwnerChange
	if before.EngineerID != after.EngineerID {
		out = append(out, OwnerChange{ReviewRoleEngineer, before.EngineerID, after.EngineerID, after.EngineerDueDate})
	}
	if before.VCIOID != after.VCIOID {
		out = append(out, OwnerChange{ReviewRoleVCIO, before.VCIOID, after.VCIOID, after.VCIODueDate})
	}
	return out
}

// AssigneeMe is the assignee filter that stands for the caller.
const AssigneeMe = "me"

// ErrNoMe refuses the assignee filter "me" to a caller that is no person: an API key (even one
// acting as a user, whose "me" would be ambiguous), an operator or a service.
var ErrNoMe = apperr.Invalid("assignee_id", `"me" is the signed-in person, and this caller is not one: give a user id`)

// ResolveAssignee turns a list's assignee filter into a user id: "" (no filter) and user ids as
// they are, "me" as the id of the person calling.
func ResolveAssignee(filter string, caller identity.Identity) (string, error) {
	if filter != AssigneeMe {
		return filter, nil
	}
	if caller.Kind != identity.KindUser || caller.UserID == "" {
		return "", ErrNoMe
	}
	return caller.UserID, nil
}
