package domain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Grant is what a caller holds, or what a change would hand out: a level in every permission
// area and a visibility, either every organization or those of Groups.
//
// It is the one place the rule "no one grants more than they hold" is decided (Covers), and
// the one place a credential's rights are narrowed by another's (Intersect), so that API keys,
// roles, users' roles and users' scopes cannot each grow their own idea of "more".
type Grant struct {
	Levels           Levels
	AllOrganizations bool
	// Groups limits the organizations seen when AllOrganizations is false; none sees nothing.
	Groups []string
}

// FullGrant is everything: Full in every area and every organization.
func FullGrant() Grant {
	l := make(Levels, len(Areas()))
	for _, a := range Areas() {
		l[a] = LevelFull
	}
	return Grant{Levels: l, AllOrganizations: true}
}

// GrantOf reads a caller's grant from its identity: its permissions ("area:read",
// "area:write") and its visibility. An area counts as Full only with both read and write, so
// a malformed identity is read as holding less, never more.
func GrantOf(permissions []string, restrictedToGroups bool, groups []string) Grant {
	l := make(Levels, len(Areas()))
	for _, a := range Areas() {
		read, write := slices.Contains(permissions, Read(a)), slices.Contains(permissions, Write(a))
		switch {
		case read && write:
			l[a] = LevelFull
		case read:
			l[a] = LevelReadOnly
		default:
			l[a] = LevelNone
		}
	}
	g := Grant{Levels: l, AllOrganizations: !restrictedToGroups}
	if restrictedToGroups {
		g.Groups = slices.Clone(groups)
	}
	return g
}

// ReasonGrantExceedsCaller marks a refusal by Covers, for clients telling it apart from a
// missing permission.
const ReasonGrantExceedsCaller = "GRANT_EXCEEDS_CALLER"

// Covers refuses (PermissionDenied) a wanted grant holding a level in any area above the
// caller's, or a visibility the caller lacks: All Organizations to a group-limited caller, or
// groups that are not among the caller's. The message names every area that exceeds and the
// scope; groups are counted, not named, since they may be the ones of another user.
func (caller Grant) Covers(wanted Grant) error {
	return caller.refuse("this would grant more than you hold: ", wanted)
}

// CoversHolder refuses (PermissionDenied) a change to something (what: "role", "user") that
// already holds more than the caller: whoever may not grant a role or a user's rights may not
// take them away or rework them either.
func (caller Grant) CoversHolder(what string, held Grant) error {
	return caller.refuse("this "+what+" holds more than you do: ", held)
}

func (caller Grant) refuse(prefix string, wanted Grant) error {
	var over []string
	for _, area := range Areas() {
		if w, c := wanted.Levels.Of(area), caller.Levels.Of(area); w > c {
			over = append(over, fmt.Sprintf("%s: %s (you hold %s)", area, w, c))
		}
	}
	if !caller.AllOrganizations {
		if wanted.AllOrganizations {
			over = append(over, "organization scope: All Organizations (you see only your groups' organizations)")
		} else if n := countOutside(wanted.Groups, caller.Groups); n > 0 {
			over = append(over, fmt.Sprintf("organization scope: %d group(s) outside your own", n))
		}
	}
	if len(over) == 0 {
		return nil
	}
	return &apperr.Error{Kind: apperr.KindPermissionDenied, Reason: ReasonGrantExceedsCaller,
		Message: prefix + strings.Join(over, "; ")}
}

func countOutside(groups, own []string) int {
	n := 0
	for _, g := range groups {
		if !slices.Contains(own, g) {
			n++
		}
	}
	return n
}

// Intersect is what g and o both hold: the lower level in every area, and the organizations
// both see.
func (g Grant) Intersect(o Grant) Grant {
	l := make(Levels, len(Areas()))
	for _, a := range Areas() {
		l[a] = min(g.Levels.Of(a), o.Levels.Of(a))
	}
	out := Grant{Levels: l}
	switch {
	case g.AllOrganizations && o.AllOrganizations:
		out.AllOrganizations = true
	case g.AllOrganizations:
		out.Groups = slices.Clone(o.Groups)
	case o.AllOrganizations:
		out.Groups = slices.Clone(g.Groups)
	default:
		out.Groups = []string{}
		for _, id := range g.Groups {
			if slices.Contains(o.Groups, id) {
				out.Groups = append(out.Groups, id)
			}
		}
	}
	if !out.AllOrganizations && out.Groups == nil {
		out.Groups = []string{}
	}
	return out
}

// String names a level as the API's documentation does.
func (l Level) String() string {
	switch l {
	case LevelUnspecified, LevelNone:
		return "None"
	case LevelReadOnly:
		return "Read-only"
	case LevelFull:
		return "Full"
	}
	return fmt.Sprintf("level %d", int32(l))
}

// ErrOwnGrant refuses a change of the caller's own role or organization scope: whoever holds
// Users: Full could otherwise move themselves to any role or group their grant covers at that
// moment, and keep it after their own role is narrowed.
var ErrOwnGrant = &apperr.Error{Kind: apperr.KindPermissionDenied, Reason: "OWN_GRANT",
	Message: "you cannot change your own role or organization scope; ask another administrator"}

// ReasonSubtreeNotVisible marks a refused delete of an organization with sub-organizations
// outside the caller's groups.
const ReasonSubtreeNotVisible = "SUBTREE_NOT_VISIBLE"

// CheckDeleteVisible refuses deleting an organization that has hidden sub-organizations, ones
// outside the groups of a group-limited caller: deleting cascades to them, and a caller may not
// change (or learn the names of) what it cannot see. It says how many, never which.
func CheckDeleteVisible(hidden int) error {
	if hidden == 0 {
		return nil
	}
	return &apperr.Error{Kind: apperr.KindPermissionDenied, Reason: ReasonSubtreeNotVisible,
		Message: fmt.Sprintf("the organization cannot be deleted by you: %d of its sub-organizations are outside your groups", hidden)}
}
