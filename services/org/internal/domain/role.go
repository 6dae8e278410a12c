package domain

import (
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
