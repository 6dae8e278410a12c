package registry

import (
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Permission areas, as they appear in identity permissions ("organizations:read").
const (
	AreaOrganizations   = "organizations"
	AreaReviews         = "reviews"
	AreaUsers           = "users"
	AreaRoles           = "roles"
	AreaAccountSettings = "account_settings"
	AreaIntegrations    = "integrations"
	AreaMappings        = "mappings"
	AreaSubscription    = "subscription"
	AreaAPIKeys         = "api_keys"
	AreaGroups          = "groups"
)

func read(area string) string  { return area + ":read" }
func write(area string) string { return area + ":write" }

// Levels maps each area to its level; the JSON form stored with a role.
type Levels map[string]orgv1.PermissionLevel

func levelsOf(p *orgv1.Permissions) Levels {
	return Levels{
		AreaOrganizations: p.GetOrganizations(), AreaReviews: p.GetReviews(), AreaUsers: p.GetUsers(),
		AreaRoles: p.GetRoles(), AreaAccountSettings: p.GetAccountSettings(), AreaIntegrations: p.GetIntegrations(),
		AreaMappings: p.GetMappings(), AreaSubscription: p.GetSubscription(), AreaAPIKeys: p.GetApiKeys(),
		AreaGroups: p.GetGroups(),
	}
}

func (l Levels) proto() *orgv1.Permissions {
	get := func(a string) orgv1.PermissionLevel {
		if v, ok := l[a]; ok && v != orgv1.PermissionLevel_PERMISSION_LEVEL_UNSPECIFIED {
			return v
		}
		return orgv1.PermissionLevel_PERMISSION_LEVEL_NONE
	}
	return &orgv1.Permissions{
		Organizations: get(AreaOrganizations), Reviews: get(AreaReviews), Users: get(AreaUsers),
		Roles: get(AreaRoles), AccountSettings: get(AreaAccountSettings), Integrations: get(AreaIntegrations),
		Mappings: get(AreaMappings), Subscription: get(AreaSubscription), ApiKeys: get(AreaAPIKeys),
		Groups: get(AreaGroups),
	}
}

// Grants turns levels into identity permissions: FULL grants read and write, READ_ONLY read.
func (l Levels) Grants() []string {
	var out []string
	for _, area := range []string{AreaOrganizations, AreaReviews, AreaUsers, AreaRoles, AreaAccountSettings,
		AreaIntegrations, AreaMappings, AreaSubscription, AreaAPIKeys, AreaGroups} {
		switch l[area] {
		case orgv1.PermissionLevel_PERMISSION_LEVEL_FULL:
			out = append(out, read(area), write(area))
		case orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY:
			out = append(out, read(area))
		}
	}
	return out
}

const (
	full = orgv1.PermissionLevel_PERMISSION_LEVEL_FULL
	ro   = orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY
	none = orgv1.PermissionLevel_PERMISSION_LEVEL_NONE
)

type builtinRole struct {
	kind   orgv1.BuiltinRole
	name   string
	levels Levels
}

// builtinRoles are seeded into every account, as in myITprocess.
func builtinRoles() []builtinRole {
	return []builtinRole{
		{orgv1.BuiltinRole_BUILTIN_ROLE_IT_PROVIDER_ADMIN, "IT Provider Admin", Levels{
			AreaOrganizations: full, AreaReviews: full, AreaUsers: full, AreaRoles: full, AreaAccountSettings: full,
			AreaIntegrations: full, AreaMappings: full, AreaSubscription: full, AreaAPIKeys: full, AreaGroups: full,
		}},
		{orgv1.BuiltinRole_BUILTIN_ROLE_VCIO, "vCIO", Levels{
			AreaOrganizations: full, AreaReviews: full, AreaUsers: ro, AreaRoles: ro, AreaAccountSettings: ro,
			AreaIntegrations: ro, AreaMappings: full, AreaSubscription: ro, AreaAPIKeys: none, AreaGroups: full,
		}},
		{orgv1.BuiltinRole_BUILTIN_ROLE_ENGINEER, "Engineer", Levels{
			AreaOrganizations: ro, AreaReviews: full, AreaUsers: ro, AreaRoles: none, AreaAccountSettings: none,
			AreaIntegrations: none, AreaMappings: ro, AreaSubscription: none, AreaAPIKeys: none, AreaGroups: ro,
		}},
	}
}
