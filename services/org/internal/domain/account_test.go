package domain_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// accessErrField is the request field an invalid-argument error names ("" for other errors).
func accessErrField(err error) string {
	if e, ok := apperr.As(err); ok && e.Kind == apperr.KindInvalid {
		return e.Field
	}
	return ""
}

func TestSettingsUpdateChecksEachNamedField(t *testing.T) {
	t.Parallel()
	const known, stranger = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	usersExist := func(ids []string) (bool, error) {
		for _, id := range ids {
			if id != known {
				return false, nil
			}
		}
		return true, nil
	}
	cur := domain.Settings{CompanyName: "Contoso", DateFormat: domain.DateFormatMMDDYYYY, TimeZone: "UTC", Currency: "USD",
		AlignmentReportTitle: "Alignment Report"}
	for _, c := range []struct {
		name      string
		in        domain.Settings
		paths     []string
		want      func(domain.Settings) bool
		wantField string
	}{
		{"time zone", domain.Settings{TimeZone: "America/Chicago"}, []string{"time_zone"},
			func(s domain.Settings) bool { return s.TimeZone == "America/Chicago" && s.Currency == "USD" }, ""},
		{"time zone on Mars", domain.Settings{TimeZone: "Mars/Olympus"}, []string{"time_zone"}, nil, "settings.time_zone"},
		{"empty time zone", domain.Settings{}, []string{"time_zone"}, nil, "settings.time_zone"},
		{"the server's zone is no one's", domain.Settings{TimeZone: "Local"}, []string{"time_zone"}, nil, "settings.time_zone"},
		{"currency", domain.Settings{Currency: "EUR"}, []string{"currency"},
			func(s domain.Settings) bool { return s.Currency == "EUR" }, ""},
		{"unknown currency", domain.Settings{Currency: "XQZ"}, []string{"currency"}, nil, "settings.currency"},
		{"currency that is not a code", domain.Settings{Currency: "EURO"}, []string{"currency"}, nil, "settings.currency"},
		{"date format", domain.Settings{DateFormat: domain.DateFormatYYYYMMDD}, []string{"date_format"},
			func(s domain.Settings) bool { return s.DateFormat == domain.DateFormatYYYYMMDD }, ""},
		{"no date format", domain.Settings{}, []string{"date_format"}, nil, "settings.date_format"},
		{"fields not named keep their value", domain.Settings{CompanyName: "Other", TimeZone: "Mars/Olympus"}, []string{"company_name"},
			func(s domain.Settings) bool { return s.CompanyName == "Other" && s.TimeZone == "UTC" }, ""},
		{"blank company name is allowed", domain.Settings{}, []string{"company_name", "alignment_report_title"},
			func(s domain.Settings) bool { return s.CompanyName == "" && s.AlignmentReportTitle == "" }, ""},
		{"security switches", domain.Settings{RequireSingleSignOn: true, RequireTwoStepVerification: true},
			[]string{"require_single_sign_on", "require_two_step_verification"},
			func(s domain.Settings) bool { return s.RequireSingleSignOn && s.RequireTwoStepVerification }, ""},
		{"recipients who are users", domain.Settings{AssignOwnershipRecipientIDs: []string{known}, AssignReviewsRecipientIDs: []string{known}},
			[]string{"assign_ownership_recipient_ids", "assign_reviews_recipient_ids"},
			func(s domain.Settings) bool {
				return slices.Equal(s.AssignOwnershipRecipientIDs, []string{known}) && slices.Equal(s.AssignReviewsRecipientIDs, []string{known})
			}, ""},
		{"ownership recipient who is not a user", domain.Settings{AssignOwnershipRecipientIDs: []string{known, stranger}},
			[]string{"assign_ownership_recipient_ids"}, nil, "settings.assign_ownership_recipient_ids"},
		{"review recipient who is not a user", domain.Settings{AssignReviewsRecipientIDs: []string{stranger}},
			[]string{"assign_reviews_recipient_ids"}, nil, "settings.assign_reviews_recipient_ids"},
		{"the first bad field named is reported", domain.Settings{Currency: "XQZ", TimeZone: "Mars/Olympus"},
			[]string{"currency", "time_zone"}, nil, "settings.currency"},
		{"in the order named", domain.Settings{Currency: "XQZ", TimeZone: "Mars/Olympus"},
			[]string{"time_zone", "currency"}, nil, "settings.time_zone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := cur.Update(c.in, c.paths, usersExist)
			if c.wantField != "" {
				if f := accessErrField(err); f != c.wantField {
					t.Fatalf("error %v names %q, want %q", err, f, c.wantField)
				}
				return
			}
			if err != nil || !c.want(got) {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

func TestSettingsUpdateAsksAboutRecipientsOnlyWhenThereAreSome(t *testing.T) {
	t.Parallel()
	asked := false
	usersExist := func([]string) (bool, error) { asked = true; return false, nil }
	if _, err := (domain.Settings{}).Update(domain.Settings{}, []string{"assign_reviews_recipient_ids"}, usersExist); err != nil || asked {
		t.Fatalf("clearing the recipients: %v (asked the store: %v)", err, asked)
	}
	boom := errors.New("connection lost")
	_, err := (domain.Settings{}).Update(domain.Settings{AssignReviewsRecipientIDs: []string{"x"}}, []string{"assign_reviews_recipient_ids"},
		func([]string) (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("a failed lookup is %v, want it passed on", err)
	}
}

func TestNewAccountAdministratorTakesOnlyThePerson(t *testing.T) {
	t.Parallel()
	person := domain.NewUser{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com", RoleID: "asked-for",
		AllOrganizations: false, GroupIDs: []string{"g"}, EmailPreferences: &domain.EmailPreferences{ReviewCreated: true}}
	got := domain.NewAccountAdministrator(person, "admin-role")
	if got.FirstName != "Ada" || got.LastName != "Admin" || got.Email != "ada@example.com" || got.RoleID != "admin-role" ||
		!got.AllOrganizations || len(got.GroupIDs) != 0 || got.Preferences() != (domain.EmailPreferences{ReviewAssigned: true}) {
		t.Fatalf("administrator = %+v", got)
	}
}
