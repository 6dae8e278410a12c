package domain_test

import (
	"testing"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestNewUserRequiresNamesAndEmail(t *testing.T) {
	t.Parallel()
	full := domain.NewUser{FirstName: "Erin", LastName: "Engineer", Email: "erin@contoso.example"}
	for _, c := range []struct {
		name      string
		edit      func(*domain.NewUser)
		field     string
		wantField string
	}{
		{"complete", func(*domain.NewUser) {}, "user", ""},
		{"no first name", func(u *domain.NewUser) { u.FirstName = "" }, "user", "user.first_name"},
		{"no last name", func(u *domain.NewUser) { u.LastName = "" }, "user", "user.last_name"},
		{"no email", func(u *domain.NewUser) { u.Email = "" }, "user", "user.email"},
		{"named as the request names it", func(u *domain.NewUser) { u.Email = "" }, "administrator", "administrator.email"},
		{"the first missing field is reported", func(u *domain.NewUser) { *u = domain.NewUser{} }, "user", "user.first_name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := full
			c.edit(&u)
			err := u.Check(c.field)
			if c.wantField == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if f := accessErrField(err); f != c.wantField {
				t.Fatalf("error %v names %q, want %q", err, f, c.wantField)
			}
		})
	}
}

func TestNewUserEmailPreferencesDefaultToAssignmentsOnly(t *testing.T) {
	t.Parallel()
	if got := (domain.NewUser{}).Preferences(); got != (domain.EmailPreferences{ReviewAssigned: true}) {
		t.Fatalf("default preferences = %+v", got)
	}
	chosen := domain.EmailPreferences{ReviewCreated: true}
	if got := (domain.NewUser{EmailPreferences: &chosen}).Preferences(); got != chosen {
		t.Fatalf("chosen preferences = %+v", got)
	}
}

func TestUserChangeRefusesBlankingARequiredField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		change    domain.UserChange
		paths     []string
		wantField string
	}{
		{"rename", domain.UserChange{ID: "u", FirstName: "Ann"}, []string{"first_name"}, ""},
		{"blank first name", domain.UserChange{ID: "u"}, []string{"first_name"}, "user.first_name"},
		{"blank last name", domain.UserChange{ID: "u"}, []string{"last_name"}, "user.last_name"},
		{"blank email", domain.UserChange{ID: "u"}, []string{"email"}, "user.email"},
		{"blank role", domain.UserChange{ID: "u"}, []string{"role_id"}, "user.role_id"},
		{"fields that may be empty", domain.UserChange{ID: "u"}, []string{"all_organizations", "group_ids", "email_preferences", "set_active"}, ""},
		{"blank fields not named are ignored", domain.UserChange{ID: "u", Email: "e@x"}, []string{"email"}, ""},
		{"the first blank field named is reported", domain.UserChange{ID: "u"}, []string{"email", "first_name"}, "user.email"},
		{"no user id", domain.UserChange{FirstName: "Ann"}, []string{"first_name"}, "user.id"},
		{"blank fields before a missing id", domain.UserChange{}, []string{"last_name"}, "user.last_name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.change.Check(c.paths)
			if c.wantField == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if f := accessErrField(err); f != c.wantField {
				t.Fatalf("error %v names %q, want %q", err, f, c.wantField)
			}
		})
	}
}

func TestUserChangeMovesMailboxOnlyToAnotherAddress(t *testing.T) {
	t.Parallel()
	cur := domain.User{ID: "u", Email: "Bob@Contoso.example"}
	for _, c := range []struct {
		name  string
		email string
		paths []string
		want  bool
	}{
		{"another address", "bob@fabrikam.example", []string{"email"}, true},
		{"another address among other fields", "robert@contoso.example", []string{"first_name", "email"}, true},
		{"the same address in other case and spacing", "  bob@contoso.EXAMPLE ", []string{"email"}, false},
		{"the same address", "Bob@Contoso.example", []string{"email"}, false},
		{"email not in the mask", "bob@fabrikam.example", []string{"first_name"}, false},
	} {
		got := domain.UserChange{ID: "u", Email: c.email}.MovesMailbox(cur, c.paths)
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
