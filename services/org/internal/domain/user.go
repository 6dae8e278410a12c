package domain

import (
	"slices"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// User is a member of the MSP's staff.
type User struct {
	ID        string
	FirstName string
	LastName  string
	Email     string
	RoleID    string
	Active    bool
	// AllOrganizations lets the user see every organization; otherwise only those of GroupIDs.
	AllOrganizations bool
	GroupIDs         []string
	EmailPreferences EmailPreferences
	Created          time.Time
	Updated          time.Time
}

// EmailPreferences are a user's own choices about email.
type EmailPreferences struct {
	ReviewAssigned bool
	ReviewCreated  bool
}

// NewUser is a user to add. A nil EmailPreferences means the defaults.
type NewUser struct {
	FirstName        string
	LastName         string
	Email            string
	RoleID           string // empty: the Engineer role
	AllOrganizations bool
	GroupIDs         []string
	EmailPreferences *EmailPreferences
}

// Check requires the fields every user has; field is the request field the user came in
// ("user", "administrator"), so errors name it as the caller wrote it.
func (u NewUser) Check(field string) error {
	switch {
	case u.FirstName == "":
		return apperr.Invalid(field+".first_name", "is required")
	case u.LastName == "":
		return apperr.Invalid(field+".last_name", "is required")
	case u.Email == "":
		return apperr.Invalid(field+".email", "is required")
	}
	return nil
}

// Preferences are the user's email preferences, the defaults when none were given: a user hears
// about reviews assigned to them, not about every review created.
func (u NewUser) Preferences() EmailPreferences {
	if u.EmailPreferences == nil {
		return EmailPreferences{ReviewAssigned: true}
	}
	return *u.EmailPreferences
}

// UserFields are the fields of a user an update may name.
func UserFields() []string {
	// Each preference is a field of its own too: a PATCH without a mask names the preferences
	// present in its body, and changes exactly those.
	return []string{"first_name", "last_name", "email", "role_id", "all_organizations", "group_ids",
		"email_preferences", "email_preferences.review_assigned", "email_preferences.review_created", "set_active"}
}

// UserChange is an update of user ID: the new values of the fields an update names.
type UserChange struct {
	ID               string
	FirstName        string
	LastName         string
	Email            string
	RoleID           string
	AllOrganizations bool
	GroupIDs         []string
	EmailPreferences EmailPreferences
	// SetActive deactivates (false) or reactivates (true) the user.
	SetActive bool
}

// Check refuses a change that would blank a required field named in paths, then one without
// the user's id.
func (c UserChange) Check(paths []string) error {
	for _, p := range paths {
		switch {
		case p == "first_name" && c.FirstName == "":
			return apperr.Invalid("user.first_name", "is required")
		case p == "last_name" && c.LastName == "":
			return apperr.Invalid("user.last_name", "is required")
		case p == "email" && c.Email == "":
			return apperr.Invalid("user.email", "is required")
		case p == "role_id" && c.RoleID == "":
			return apperr.Invalid("user.role_id", "is required")
		}
	}
	if c.ID == "" {
		return apperr.Invalid("user.id", "is required")
	}
	return nil
}

// Grant is what the user holds with its role's levels.
func (u User) Grant(roleLevels Levels) Grant {
	g := Grant{Levels: roleLevels, AllOrganizations: u.AllOrganizations}
	if !u.AllOrganizations {
		g.Groups = u.GroupIDs
	}
	return g
}

// Grant is what the new user would hold with its role's levels.
func (u NewUser) Grant(roleLevels Levels) Grant {
	return User{AllOrganizations: u.AllOrganizations, GroupIDs: u.GroupIDs}.Grant(roleLevels)
}

// changesGrant reports whether an update naming paths changes the user's role or scope.
func changesGrant(paths []string) bool {
	for _, p := range paths {
		if p == "role_id" || p == "all_organizations" || p == "group_ids" {
			return true
		}
	}
	return false
}

// TouchesGrant reports whether an update naming paths changes what the user may do, or who may
// act as them: its role, its scope, whether it is active (a reactivation gives back its role and
// scope), or its email (password resets and invitations go to it: whoever chooses the address
// can sign in as the user).
func TouchesGrant(paths []string) bool {
	return changesGrant(paths) || slices.Contains(paths, "set_active") || slices.Contains(paths, "email")
}

// CheckGrant decides whether a caller holding caller may apply the update (naming paths) to
// user cur, whose role's levels are curRole now and roleAfter after the update; self says cur
// is the caller (the user it acts as, or the user its key is bound by).
//
// Nobody changes their own role or scope. Otherwise, when the update touches the user's rights
// (TouchesGrant), the caller must hold everything the user holds before (no demoting or
// deactivating someone above oneself) and everything it holds after (no promoting anyone beyond
// oneself). An inactive user holds nothing.
func (c UserChange) CheckGrant(caller Grant, self bool, cur User, curRole, roleAfter Levels, paths []string) error {
	if self && changesGrant(paths) {
		return ErrOwnGrant
	}
	if !TouchesGrant(paths) {
		return nil
	}
	// An inactive user holds nothing: its role and scope are checked when it is reactivated.
	if cur.Active {
		if err := caller.CoversHolder("user", cur.Grant(curRole)); err != nil {
			return err
		}
	}
	after := cur
	for _, p := range paths {
		switch p {
		case "all_organizations":
			after.AllOrganizations = c.AllOrganizations
		case "group_ids":
			after.GroupIDs = c.GroupIDs
		case "set_active":
			after.Active = c.SetActive
		}
	}
	if !after.Active {
		return nil
	}
	return caller.Covers(after.Grant(roleAfter))
}

// MovesMailbox reports whether an update naming paths gives user cur another mailbox: its email
// changes other than in case or spacing (NormalizeEmail, as sign-in compares emails). Links
// mailed to the old address must then stop working: whoever reads that mailbox is no longer the
// user.
func (c UserChange) MovesMailbox(cur User, paths []string) bool {
	return slices.Contains(paths, "email") && NormalizeEmail(c.Email) != NormalizeEmail(cur.Email)
}
