package domain

import (
	"slices"
	"time"
	_ "time/tzdata" // time zones are checked against the IANA database whatever the host has

	"golang.org/x/text/currency"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Account is an MSP using Orgplane: the tenant every other record belongs to.
type Account struct {
	ID          string
	DisplayName string
	Created     time.Time
}

// NewAccountOrganizationTypes are the organization types every new account starts with:
// ordinary list entries the MSP can extend.
func NewAccountOrganizationTypes() []string {
	return []string{"Customer", "Vendor", "Owner", "Prospect"}
}

// NewAccountOrganizationStatuses are the statuses every new account starts with.
func NewAccountOrganizationStatuses() []string { return []string{"Active", "Inactive"} }

// NewAccountAdministrator is the first user of an account: the operator names the person, the
// account decides the rest (every organization, review assignments by email, the admin role).
func NewAccountAdministrator(person NewUser, adminRoleID string) NewUser {
	return NewUser{
		FirstName: person.FirstName, LastName: person.LastName, Email: person.Email,
		RoleID: adminRoleID, AllOrganizations: true,
		EmailPreferences: &EmailPreferences{ReviewAssigned: true},
	}
}

// NewAccountAPIKeyName names the administrator's first key.
const NewAccountAPIKeyName = "Initial administrator key"

// DateFormat is how dates are shown to an account's staff; the numbers are stored and equal the
// API's DateFormat values.
type DateFormat int16

const (
	DateFormatUnspecified DateFormat = 0
	DateFormatMMDDYYYY    DateFormat = 1
	DateFormatDDMMYYYY    DateFormat = 2
	DateFormatYYYYMMDD    DateFormat = 3
)

// DateFormats are the documented date formats, the only ones settings accept.
func DateFormats() []DateFormat {
	return []DateFormat{DateFormatMMDDYYYY, DateFormatDDMMYYYY, DateFormatYYYYMMDD}
}

// Settings are an account's General and Security settings.
type Settings struct {
	CompanyName                 string
	DateFormat                  DateFormat
	TimeZone                    string
	Currency                    string
	AlignmentReportTitle        string
	RequireSingleSignOn         bool
	RequireTwoStepVerification  bool
	AssignOwnershipRecipientIDs []string
	AssignReviewsRecipientIDs   []string
	// HasLogo and Updated are read, never written through Settings.
	HasLogo bool
	Updated time.Time
}

// SettingsFields are the settings an update may name.
func SettingsFields() []string {
	return []string{"company_name", "date_format", "time_zone", "currency", "alignment_report_title",
		"require_single_sign_on", "require_two_step_verification", "assign_ownership_recipient_ids",
		"assign_reviews_recipient_ids"}
}

// UsersExist reports whether every id names a user of the account; the recipient rules need it.
type UsersExist func(ids []string) (bool, error)

// Update returns s with the fields named in paths taken from in, checking each value in the
// order of paths, so the first bad field named is the one reported.
func (s Settings) Update(in Settings, paths []string, usersExist UsersExist) (Settings, error) {
	for _, p := range paths {
		switch p {
		case "company_name":
			s.CompanyName = in.CompanyName
		case "date_format":
			if !slices.Contains(DateFormats(), in.DateFormat) {
				// protojson takes any number for an enum; only the documented formats are kept.
				return s, apperr.Invalid("settings.date_format", "is required: one of the documented date formats")
			}
			s.DateFormat = in.DateFormat
		case "time_zone":
			if err := CheckTimeZone(in.TimeZone); err != nil {
				return s, err
			}
			s.TimeZone = in.TimeZone
		case "currency":
			if err := CheckCurrency(in.Currency); err != nil {
				return s, err
			}
			s.Currency = in.Currency
		case "alignment_report_title":
			s.AlignmentReportTitle = in.AlignmentReportTitle
		case "require_single_sign_on":
			s.RequireSingleSignOn = in.RequireSingleSignOn
		case "require_two_step_verification":
			s.RequireTwoStepVerification = in.RequireTwoStepVerification
		case "assign_ownership_recipient_ids":
			if err := checkRecipients(in.AssignOwnershipRecipientIDs, "settings.assign_ownership_recipient_ids", usersExist); err != nil {
				return s, err
			}
			s.AssignOwnershipRecipientIDs = in.AssignOwnershipRecipientIDs
		case "assign_reviews_recipient_ids":
			if err := checkRecipients(in.AssignReviewsRecipientIDs, "settings.assign_reviews_recipient_ids", usersExist); err != nil {
				return s, err
			}
			s.AssignReviewsRecipientIDs = in.AssignReviewsRecipientIDs
		}
	}
	return s, nil
}

// CheckTimeZone accepts IANA time zone names. "Local" is refused: it would mean the server's
// zone, which is no one's.
func CheckTimeZone(name string) error {
	if name == "" || name == "Local" {
		return apperr.Invalid("settings.time_zone", "is required: an IANA time zone name such as America/Chicago")
	}
	if _, err := time.LoadLocation(name); err != nil || !canonicalTimeZone(name) {
		return apperr.Invalidf("settings.time_zone", "%q is not a canonical IANA time zone name (such as America/Chicago or Etc/UTC)", name)
	}
	return nil
}

// CheckCurrency accepts ISO 4217 codes (three letters; the parser alone also takes longer
// forms).
func CheckCurrency(code string) error {
	// The parser also takes lower case; a stored code is written as ISO spells it.
	if unit, err := currency.ParseISO(code); err != nil || len(code) != 3 || unit.String() != code {
		return apperr.Invalidf("settings.currency", "%q is not an ISO 4217 currency code", code)
	}
	return nil
}

func checkRecipients(ids []string, field string, usersExist UsersExist) error {
	if len(ids) == 0 {
		return nil
	}
	ok, err := usersExist(ids)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.Invalid(field, "names a user that does not exist in this account")
	}
	return nil
}
