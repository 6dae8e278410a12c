package domain_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestBuiltinRolesGrant(t *testing.T) {
	t.Parallel()
	want := map[domain.BuiltinRole][]string{
		domain.RoleITProviderAdmin: {
			"organizations:read", "organizations:write", "reviews:read", "reviews:write", "users:read", "users:write",
			"roles:read", "roles:write", "account_settings:read", "account_settings:write", "integrations:read",
			"integrations:write", "mappings:read", "mappings:write", "subscription:read", "subscription:write",
			"api_keys:read", "api_keys:write", "groups:read", "groups:write", "notifications:read", "notifications:write",
		},
		domain.RoleVCIO: {
			"organizations:read", "organizations:write", "reviews:read", "reviews:write", "users:read", "roles:read",
			"account_settings:read", "integrations:read", "mappings:read", "mappings:write", "subscription:read",
			"groups:read", "groups:write", "notifications:read",
		},
		domain.RoleEngineer: {
			"organizations:read", "reviews:read", "reviews:write", "users:read", "mappings:read", "groups:read",
		},
	}
	roles := domain.BuiltinRoles()
	if len(roles) != len(want) {
		t.Fatalf("%d built-in roles, want %d", len(roles), len(want))
	}
	for _, r := range roles {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			if got := r.Levels.Grants(); !slices.Equal(got, want[r.Kind]) {
				t.Fatalf("grants\n %v\nwant\n %v", got, want[r.Kind])
			}
			if len(r.Levels) != len(domain.Areas()) {
				t.Fatalf("sets %d areas, want every one of %d", len(r.Levels), len(domain.Areas()))
			}
		})
	}
}

func TestLevelsGrantAndDefault(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		levels domain.Levels
		want   []string
	}{
		{"nothing set grants nothing", domain.Levels{}, nil},
		{"unspecified and none grant nothing", domain.Levels{domain.AreaUsers: domain.LevelUnspecified, domain.AreaRoles: domain.LevelNone}, nil},
		{"read-only grants read", domain.Levels{domain.AreaUsers: domain.LevelReadOnly}, []string{"users:read"}},
		{"full grants read and write", domain.Levels{domain.AreaGroups: domain.LevelFull}, []string{"groups:read", "groups:write"}},
		{"unknown areas grant nothing", domain.Levels{"payroll": domain.LevelFull}, nil},
		{"grants follow the area order", domain.Levels{domain.AreaGroups: domain.LevelReadOnly, domain.AreaOrganizations: domain.LevelReadOnly},
			[]string{"organizations:read", "groups:read"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := c.levels.Grants(); !slices.Equal(got, c.want) {
				t.Fatalf("grants %v, want %v", got, c.want)
			}
		})
	}
	l := domain.Levels{domain.AreaUsers: domain.LevelUnspecified, domain.AreaRoles: domain.LevelFull}
	if l.Of(domain.AreaUsers) != domain.LevelNone || l.Of(domain.AreaGroups) != domain.LevelNone || l.Of(domain.AreaRoles) != domain.LevelFull {
		t.Fatalf("Of: users %v, groups %v, roles %v", l.Of(domain.AreaUsers), l.Of(domain.AreaGroups), l.Of(domain.AreaRoles))
	}
}

// Roles are stored as this JSON; the level numbers are the API's enum values.
func TestLevelsJSONIsTheStoredForm(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(domain.Levels{domain.AreaUsers: domain.LevelReadOnly, domain.AreaAPIKeys: domain.LevelFull, domain.AreaRoles: domain.LevelUnspecified})
	if err != nil || string(b) != `{"api_keys":3,"roles":0,"users":2}` {
		t.Fatalf("stored as %s (%v)", b, err)
	}
	var l domain.Levels
	if err := json.Unmarshal([]byte(`{"organizations":3,"reviews":1}`), &l); err != nil || l.Of(domain.AreaOrganizations) != domain.LevelFull || l.Of(domain.AreaReviews) != domain.LevelNone {
		t.Fatalf("read %v (%v)", l, err)
	}
}

func TestRoleRules(t *testing.T) {
	t.Parallel()
	custom := domain.Role{ID: "r", Name: "Dispatcher", Levels: domain.Levels{domain.AreaOrganizations: domain.LevelFull}}
	if err := domain.CheckNewRole(custom); err != nil {
		t.Fatalf("a named role is refused: %v", err)
	}
	if f := accessErrField(domain.CheckNewRole(domain.Role{})); f != "role.name" {
		t.Fatalf("an unnamed role: error names %q", f)
	}

	wider := domain.Levels{domain.AreaOrganizations: domain.LevelFull, domain.AreaReviews: domain.LevelReadOnly}
	got, err := custom.Update(domain.Role{Name: "Ignored", Levels: wider}, []string{"permissions"})
	if err != nil || got.Name != "Dispatcher" || got.Levels.Of(domain.AreaReviews) != domain.LevelReadOnly || got.ID != "r" {
		t.Fatalf("permissions update = %+v, %v", got, err)
	}
	got, err = custom.Update(domain.Role{Name: "Router"}, []string{"name"})
	if err != nil || got.Name != "Router" || got.Levels.Of(domain.AreaOrganizations) != domain.LevelFull {
		t.Fatalf("rename = %+v, %v", got, err)
	}
	if _, err := custom.Update(domain.Role{}, []string{"name"}); accessErrField(err) != "role.name" {
		t.Fatalf("blank name: %v", err)
	}
	for _, b := range domain.BuiltinRoles() {
		builtin := domain.Role{ID: "b", Name: b.Name, Builtin: b.Kind, Levels: b.Levels}
		if _, err := builtin.Update(domain.Role{Name: "Mine"}, []string{"name"}); !errors.Is(err, domain.ErrBuiltinRoleFixed) {
			t.Fatalf("changing %s: %v", b.Name, err)
		}
	}
}

// A PATCH without a mask names the areas in its body ("permissions.users"): only those change,
// and the role as it was (which the caller's grant is checked against) is left as it was.
func TestRoleUpdateOfOneAreaChangesOnlyThatArea(t *testing.T) {
	t.Parallel()
	cur := domain.Role{ID: "r", Name: "Dispatcher", Levels: domain.Levels{
		domain.AreaOrganizations: domain.LevelReadOnly, domain.AreaReviews: domain.LevelFull}}
	in := domain.Role{Levels: domain.Levels{domain.AreaUsers: domain.LevelFull}}
	next, err := cur.Update(in, []string{"permissions.users"})
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Levels{domain.AreaOrganizations: domain.LevelReadOnly, domain.AreaReviews: domain.LevelFull, domain.AreaUsers: domain.LevelFull}
	if len(next.Levels) != len(want) || next.Levels.Of(domain.AreaUsers) != domain.LevelFull ||
		next.Levels.Of(domain.AreaReviews) != domain.LevelFull || next.Levels.Of(domain.AreaOrganizations) != domain.LevelReadOnly {
		t.Fatalf("levels = %v, want %v", next.Levels, want)
	}
	if cur.Levels.Of(domain.AreaUsers) != domain.LevelNone || next.Name != "Dispatcher" {
		t.Fatalf("the update changed the role it started from (%v) or its name (%q)", cur.Levels, next.Name)
	}
	if !slices.Contains(domain.RoleFields(), "permissions.account_settings") {
		t.Fatalf("RoleFields() = %v, want every area as a field of its own", domain.RoleFields())
	}
}

func TestOnlyUnheldCustomRolesAreDeletable(t *testing.T) {
	t.Parallel()
	for _, kind := range []domain.BuiltinRole{domain.RoleITProviderAdmin, domain.RoleVCIO, domain.RoleEngineer} {
		if err := (domain.Role{Name: "x", Builtin: kind}).CheckDeletable(); apperr.KindOf(err) != apperr.KindFailedPrecondition {
			t.Errorf("built-in role %d: %v, want FailedPrecondition", kind, err)
		}
	}
	if err := (domain.Role{Name: "Reviewer"}).CheckDeletable(); err != nil {
		t.Errorf("a custom role: %v", err)
	}
	for _, c := range []struct {
		holders domain.RoleHolders
		want    string // "" when deletable
	}{
		{domain.RoleHolders{}, ""},
		{domain.RoleHolders{Users: 1}, `the role "Reviewer" is still held by 1 user: give the users another role before deleting it`},
		{domain.RoleHolders{Users: 3, Deactivated: 1, Invited: 2, APIKeys: 1},
			`the role "Reviewer" is still held by 3 users (1 deactivated, 2 invited and not yet signed in) and 1 API key: ` +
				`give the users another role and revoke the API keys before deleting it`},
		{domain.RoleHolders{APIKeys: 2, SingleSignOnDefault: true},
			`the role "Reviewer" is still held by 2 API keys and single sign-on, which gives it to the users it creates: ` +
				`revoke the API keys and choose another role for single sign-on before deleting it`},
	} {
		err := c.holders.CheckUnheld("Reviewer")
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v, want deletable", c.holders, err)
			}
			continue
		}
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.KindConflict || ae.Reason != domain.ReasonRoleInUse || ae.Message != c.want {
			t.Errorf("%+v:\n got %v\nwant Conflict %s: %s", c.holders, err, domain.ReasonRoleInUse, c.want)
		}
	}
}
