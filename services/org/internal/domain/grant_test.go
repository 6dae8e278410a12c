package domain_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

var levels = []domain.Level{domain.LevelUnspecified, domain.LevelNone, domain.LevelReadOnly, domain.LevelFull}

// rank orders levels as a caller holds them: unspecified is none.
func rank(l domain.Level) domain.Level { return max(l, domain.LevelNone) }

// refusedBy reports whether err is a Covers refusal, and its message.
func refusedBy(err error) (bool, string) {
	e, ok := apperr.As(err)
	if !ok {
		return false, ""
	}
	return e.Kind == apperr.KindPermissionDenied && e.Reason == domain.ReasonGrantExceedsCaller, e.Message
}

// Every area × every level the caller holds × every level wanted: refused exactly when more is
// wanted than held, naming that area and no other.
func TestCoversEveryAreaAndLevel(t *testing.T) {
	t.Parallel()
	for _, area := range domain.Areas() {
		for _, held := range levels {
			for _, wanted := range levels {
				t.Run(fmt.Sprintf("%s/hold %d/want %d", area, held, wanted), func(t *testing.T) {
					t.Parallel()
					// Everything else is held in full and wanted at nothing, so only area decides.
					caller := domain.FullGrant()
					caller.Levels[area] = held
					want := domain.Grant{Levels: domain.Levels{area: wanted}}
					err := caller.Covers(want)
					refused, msg := refusedBy(err)
					if shouldRefuse := rank(wanted) > rank(held); shouldRefuse != refused || (err != nil && !refused) {
						t.Fatalf("Covers = %v, want refused=%v", err, shouldRefuse)
					}
					if refused && !strings.Contains(msg, area+": "+wanted.String()) {
						t.Fatalf("refusal %q does not name %s", msg, area)
					}
					for _, other := range domain.Areas() {
						if other != area && refused && strings.Contains(msg, other+":") {
							t.Fatalf("refusal %q names %s, which does not exceed", msg, other)
						}
					}
				})
			}
		}
	}
}

// A caller holding one area in full and nothing else cannot grant anything in another area,
// and every area that exceeds is named at once.
func TestCoversNamesEveryAreaThatExceeds(t *testing.T) {
	t.Parallel()
	caller := domain.Grant{Levels: domain.Levels{domain.AreaRoles: domain.LevelFull}, AllOrganizations: true}
	if err := caller.Covers(domain.Grant{Levels: domain.Levels{domain.AreaRoles: domain.LevelFull}}); err != nil {
		t.Fatalf("granting what is held: %v", err)
	}
	err := caller.Covers(domain.FullGrant())
	refused, msg := refusedBy(err)
	if !refused {
		t.Fatalf("granting everything: %v", err)
	}
	for _, area := range domain.Areas() {
		if named := strings.Contains(msg, area+": Full (you hold None)"); named != (area != domain.AreaRoles) {
			t.Errorf("%s named = %v in %q", area, named, msg)
		}
	}
}

func TestCoversScope(t *testing.T) {
	t.Parallel()
	all := domain.Grant{AllOrganizations: true}
	limited := func(groups ...string) domain.Grant { return domain.Grant{Groups: groups} }
	for _, c := range []struct {
		name           string
		caller, wanted domain.Grant
		refused        string // part of the message, "" when allowed
	}{
		{"all to all", all, all, ""},
		{"all to some groups", all, limited("g1", "g9"), ""},
		{"all to no group", all, limited(), ""},
		{"limited to all", limited("g1"), all, "All Organizations"},
		{"limited in no group to all", limited(), all, "All Organizations"},
		{"limited to the same groups", limited("g1", "g2"), limited("g2", "g1"), ""},
		{"limited to fewer groups", limited("g1", "g2"), limited("g2"), ""},
		{"limited to no group", limited("g1"), limited(), ""},
		{"limited to one more group", limited("g1", "g2"), limited("g1", "g3"), "1 group(s) outside your own"},
		{"limited to two foreign groups", limited("g1"), limited("g8", "g9"), "2 group(s) outside your own"},
		{"in no group to any group", limited(), limited("g1"), "1 group(s) outside your own"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.caller.Covers(c.wanted)
			refused, msg := refusedBy(err)
			if (c.refused != "") != refused || (err != nil && !refused) || !strings.Contains(msg, c.refused) {
				t.Fatalf("Covers = %v, want refusal %q", err, c.refused)
			}
			// Groups are counted, never named: they may be another user's.
			for _, g := range c.wanted.Groups {
				if strings.Contains(msg, g) {
					t.Fatalf("refusal %q names group %s", msg, g)
				}
			}
		})
	}
}

// GrantOf reads back exactly what a role grants, for every area at every level; a write
// permission without read (no role grants that) is read as nothing, never as more.
func TestGrantOfReadsIdentityPermissions(t *testing.T) {
	t.Parallel()
	for _, area := range domain.Areas() {
		for _, l := range levels {
			g := domain.GrantOf(domain.Levels{area: l}.Grants(), false, nil)
			for _, a := range domain.Areas() {
				want := domain.LevelNone
				if a == area {
					want = rank(l)
				}
				if got := g.Levels.Of(a); got != want {
					t.Errorf("%s at %v: %s reads as %v, want %v", area, l, a, got, want)
				}
			}
		}
	}
	if g := domain.GrantOf([]string{"users:write"}, false, nil); g.Levels.Of(domain.AreaUsers) != domain.LevelNone {
		t.Errorf("write without read reads as %v", g.Levels.Of(domain.AreaUsers))
	}
	if g := domain.GrantOf(nil, false, []string{"g"}); !g.AllOrganizations || g.Groups != nil {
		t.Errorf("unrestricted = %+v", g)
	}
	if g := domain.GrantOf(nil, true, []string{"g"}); g.AllOrganizations || !slices.Equal(g.Groups, []string{"g"}) {
		t.Errorf("restricted = %+v", g)
	}
}

func TestIntersect(t *testing.T) {
	t.Parallel()
	for _, area := range domain.Areas() {
		for _, a := range levels {
			for _, b := range levels {
				got := domain.Grant{Levels: domain.Levels{area: a}}.Intersect(domain.Grant{Levels: domain.Levels{area: b}})
				if got.Levels.Of(area) != min(rank(a), rank(b)) {
					t.Errorf("%s: %v ∩ %v = %v", area, a, b, got.Levels.Of(area))
				}
			}
		}
	}
	all := domain.Grant{AllOrganizations: true}
	limited := func(groups ...string) domain.Grant { return domain.Grant{Groups: groups} }
	for _, c := range []struct {
		name string
		a, b domain.Grant
		all  bool
		want []string
	}{
		{"all and all", all, all, true, nil},
		{"all and some", all, limited("g1", "g2"), false, []string{"g1", "g2"}},
		{"some and all", limited("g1"), all, false, []string{"g1"}},
		{"overlapping", limited("g1", "g2"), limited("g2", "g3"), false, []string{"g2"}},
		{"disjoint sees nothing", limited("g1"), limited("g2"), false, []string{}},
		{"none and all sees nothing", limited(), all, false, []string{}},
	} {
		got := c.a.Intersect(c.b)
		if got.AllOrganizations != c.all || !slices.Equal(got.Groups, c.want) || (!c.all && got.Groups == nil) {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}

func TestUserChangeCheckGrant(t *testing.T) {
	t.Parallel()
	const full, ro = domain.LevelFull, domain.LevelReadOnly
	nothing := domain.Levels{}
	admin := domain.FullGrant().Levels
	engineer := domain.Levels{domain.AreaOrganizations: ro, domain.AreaReviews: full, domain.AreaUsers: ro}
	usersOnly := domain.Levels{domain.AreaUsers: full}
	// The caller: users full and engineer's levels, limited to g1.
	caller := domain.Grant{Levels: domain.Levels{domain.AreaUsers: full, domain.AreaOrganizations: ro, domain.AreaReviews: full}, Groups: []string{"g1"}}
	inG1 := domain.User{ID: "u", Active: true, GroupIDs: []string{"g1"}}
	everywhere := domain.User{ID: "u", Active: true, AllOrganizations: true}
	inactive := domain.User{ID: "u", Active: false, AllOrganizations: true}
	for _, c := range []struct {
		name              string
		change            domain.UserChange
		self              bool
		cur               domain.User
		before, after     domain.Levels
		paths             []string
		wantOwn, wantDeny bool
	}{
		{"rename anyone", domain.UserChange{FirstName: "X"}, false, everywhere, admin, admin, []string{"first_name"}, false, false},
		{"rename oneself", domain.UserChange{FirstName: "X"}, true, inG1, engineer, engineer, []string{"first_name"}, false, false},
		{"own role, even lower", domain.UserChange{}, true, inG1, usersOnly, nothing, []string{"role_id"}, true, false},
		{"own scope to all", domain.UserChange{AllOrganizations: true}, true, inG1, engineer, engineer, []string{"all_organizations"}, true, false},
		{"own groups", domain.UserChange{GroupIDs: []string{"g1"}}, true, inG1, engineer, engineer, []string{"group_ids"}, true, false},
		{"role within own", domain.UserChange{}, false, inG1, nothing, engineer, []string{"role_id"}, false, false},
		{"role to admin", domain.UserChange{}, false, inG1, engineer, admin, []string{"role_id"}, false, true},
		{"scope to all", domain.UserChange{AllOrganizations: true}, false, inG1, engineer, engineer, []string{"all_organizations"}, false, true},
		{"groups outside own", domain.UserChange{GroupIDs: []string{"g1", "g2"}}, false, inG1, engineer, engineer, []string{"group_ids"}, false, true},
		{"groups within own", domain.UserChange{GroupIDs: []string{}}, false, inG1, engineer, engineer, []string{"group_ids"}, false, false},
		{"demote someone above", domain.UserChange{}, false, everywhere, admin, engineer, []string{"role_id"}, false, true},
		{"deactivate someone above", domain.UserChange{SetActive: false}, false, everywhere, engineer, engineer, []string{"set_active"}, false, true},
		{"deactivate someone within", domain.UserChange{SetActive: false}, false, inG1, engineer, engineer, []string{"set_active"}, false, false},
		{"reactivate someone above", domain.UserChange{SetActive: true}, false, inactive, admin, admin, []string{"set_active"}, false, true},
		{"reactivate someone within", domain.UserChange{SetActive: true}, false, domain.User{ID: "u", GroupIDs: []string{"g1"}}, engineer, engineer, []string{"set_active"}, false, false},
		{"re-role an inactive user", domain.UserChange{}, false, inactive, admin, admin, []string{"role_id"}, false, false},
		// Whoever sets the address receives the password reset links: an email is a grant.
		{"email of someone above", domain.UserChange{Email: "x@example.com"}, false, everywhere, admin, admin, []string{"email"}, false, true},
		{"email of someone within", domain.UserChange{Email: "x@example.com"}, false, inG1, engineer, engineer, []string{"email"}, false, false},
		{"own email", domain.UserChange{Email: "x@example.com"}, true, inG1, engineer, engineer, []string{"email"}, false, false},
		{"re-role and reactivate beyond", domain.UserChange{SetActive: true}, false, domain.User{ID: "u", GroupIDs: []string{"g1"}}, engineer, admin, []string{"role_id", "set_active"}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.change.CheckGrant(caller, c.self, c.cur, c.before, c.after, c.paths)
			e, _ := apperr.As(err)
			switch {
			case c.wantOwn:
				if e == nil || e.Kind != apperr.KindPermissionDenied || e.Reason != "OWN_GRANT" {
					t.Fatalf("got %v, want the own-grant refusal", err)
				}
			case c.wantDeny:
				if refused, _ := refusedBy(err); !refused {
					t.Fatalf("got %v, want a refusal", err)
				}
			default:
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
			}
		})
	}
}

func TestTouchesGrant(t *testing.T) {
	t.Parallel()
	for _, f := range domain.UserFields() {
		want := slices.Contains([]string{"role_id", "all_organizations", "group_ids", "set_active", "email"}, f)
		if got := domain.TouchesGrant([]string{f}); got != want {
			t.Errorf("%s touches the grant = %v, want %v", f, got, want)
		}
	}
}

func TestAPIKeyGrantAndOwner(t *testing.T) {
	t.Parallel()
	l := domain.Levels{domain.AreaAPIKeys: domain.LevelFull}
	if g := (domain.APIKey{}).Grant(l, nil); !g.AllOrganizations || g.Levels.Of(domain.AreaAPIKeys) != domain.LevelFull {
		t.Errorf("a key acting as no one = %+v, want every organization", g)
	}
	u := domain.User{GroupIDs: []string{"g1"}}
	if g := (domain.APIKey{UserID: "u"}).Grant(l, &u); g.AllOrganizations || !slices.Equal(g.Groups, []string{"g1"}) {
		t.Errorf("a key acting as a limited user = %+v", g)
	}
	for _, c := range []struct {
		key  domain.APIKey
		want string
	}{
		{domain.APIKey{OwnerID: "creator", UserID: "user"}, "creator"},
		{domain.APIKey{UserID: "user"}, "user"},
		{domain.APIKey{}, ""},
	} {
		if got := c.key.Owner(); got != c.want {
			t.Errorf("%+v: owner %q, want %q", c.key, got, c.want)
		}
	}
	// The person behind a creating key is the one using it: the user it acts as, else (a
	// script's key) its owner.
	for _, c := range []struct{ user, owner, want string }{
		{"engineer", "admin", "engineer"}, {"", "admin", "admin"}, {"engineer", "", "engineer"}, {"", "", ""},
	} {
		if got := domain.CreatorBehind(c.user, c.owner); got != c.want {
			t.Errorf("CreatorBehind(%q, %q) = %q, want %q", c.user, c.owner, got, c.want)
		}
	}
}

func TestCheckDeleteVisibleCountsAndNamesNothing(t *testing.T) {
	t.Parallel()
	if err := domain.CheckDeleteVisible(0); err != nil {
		t.Fatalf("nothing hidden: %v", err)
	}
	e, ok := apperr.As(domain.CheckDeleteVisible(3))
	if !ok || e.Kind != apperr.KindPermissionDenied || e.Reason != domain.ReasonSubtreeNotVisible || !strings.Contains(e.Message, "3 of its sub-organizations") {
		t.Fatalf("3 hidden: %v", e)
	}
}
