package domain

import (
	"fmt"
	"maps"
	"strings"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Role is a named set of permission levels. Built-in roles are the same in every account and
// never change; custom roles are the account's own.
type Role struct {
	ID      string
	Name    string
	Builtin BuiltinRole // RoleCustom for a custom role
	Levels  Levels
}

// ErrBuiltinRoleFixed refuses changes to a built-in role.
var ErrBuiltinRoleFixed = apperr.FailedPrecondition("built-in roles cannot be changed; create a custom role instead")

// RoleFields are the fields of a role an update may name.
//
// Each area is a field of its own too ("permissions.users"): a PATCH without a mask names the
// areas present in its body, and changes exactly those.
func RoleFields() []string {
	fields := []string{"name", "permissions"}
	for _, area := range Areas() {
		fields = append(fields, "permissions."+area)
	}
	return fields
}

// CheckNewRole requires what a custom role needs.
func CheckNewRole(r Role) error {
	if r.Name == "" {
		return apperr.Invalid("role.name", "is required")
	}
	return nil
}

// Update returns r with the fields named in paths taken from in; built-in roles are refused.
func (r Role) Update(in Role, paths []string) (Role, error) {
	if r.Builtin != RoleCustom {
		return r, ErrBuiltinRoleFixed
	}
	for _, p := range paths {
		switch p {
		case "name":
			if in.Name == "" {
				return r, apperr.Invalid("role.name", "is required")
			}
			r.Name = in.Name
		case "permissions":
			r.Levels = in.Levels
		default:
			if area, ok := strings.CutPrefix(p, "permissions."); ok {
				// A copy: the caller still compares against the role's levels before the change.
				levels := maps.Clone(r.Levels)
				if levels == nil {
					levels = Levels{}
				}
				levels[area] = in.Levels[area]
				r.Levels = levels
			}
		}
	}
	return r, nil
}

// ReasonRoleInUse marks the refusal to delete a role someone still holds, for clients that
// offer to reassign its holders.
const ReasonRoleInUse = "ROLE_IN_USE"

// ErrBuiltinRoleUndeletable refuses deleting a built-in role: every account keeps them.
var ErrBuiltinRoleUndeletable = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "BUILTIN_ROLE",
	Message: "built-in roles cannot be deleted; only custom roles can"}

// CheckDeletable refuses deleting a built-in role.
func (r Role) CheckDeletable() error {
	if r.Builtin != RoleCustom {
		return ErrBuiltinRoleUndeletable
	}
	return nil
}

// RoleHolders is what still holds a role, and so keeps it from being deleted.
type RoleHolders struct {
	// Users holding the role, whatever their state; of them, Deactivated are deactivated and
	// Invited have a pending invitation (no password set yet).
	Users, Deactivated, Invited int
	// APIKeys are the valid (unrevoked) keys with the role. A revoked key does not hold it: it
	// can never be used again, and deleting the role only clears the revoked key's role.
	APIKeys int
	// SingleSignOnDefault: single sign-on gives the role to the users it creates.
	SingleSignOnDefault bool
}

// CheckUnheld refuses deleting role name while anyone holds it (Conflict, 409, reason
// ROLE_IN_USE), saying how many hold it so an administrator knows what to reassign first.
func (h RoleHolders) CheckUnheld(name string) error {
	var held []string
	if h.Users > 0 {
		s := plural(h.Users, "user", "users")
		var which []string
		if h.Deactivated > 0 {
			which = append(which, fmt.Sprintf("%d deactivated", h.Deactivated))
		}
		if h.Invited > 0 {
			which = append(which, fmt.Sprintf("%d invited and not yet signed in", h.Invited))
		}
		if len(which) > 0 {
			s += " (" + strings.Join(which, ", ") + ")"
		}
		held = append(held, s)
	}
	if h.APIKeys > 0 {
		held = append(held, plural(h.APIKeys, "API key", "API keys"))
	}
	if h.SingleSignOnDefault {
		held = append(held, "single sign-on, which gives it to the users it creates")
	}
	if len(held) == 0 {
		return nil
	}
	var todo []string
	if h.Users > 0 {
		todo = append(todo, "give the users another role")
	}
	if h.APIKeys > 0 {
		todo = append(todo, "revoke the API keys")
	}
	if h.SingleSignOnDefault {
		todo = append(todo, "choose another role for single sign-on")
	}
	return &apperr.Error{Kind: apperr.KindConflict, Reason: ReasonRoleInUse,
		Message: fmt.Sprintf("the role %q is still held by %s: %s before deleting it", name, joinAnd(held), joinAnd(todo))}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
