package domain

import (
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
	return []string{"first_name", "last_name", "email", "role_id", "all_organizations", "group_ids",
		"email_preferences", "set_active"}
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
