package domain

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
	AreaNotifications   = "notifications"
)

// Areas lists every permission area in display order.
func Areas() []string {
	return []string{AreaOrganizations, AreaReviews, AreaUsers, AreaRoles, AreaAccountSettings,
		AreaIntegrations, AreaMappings, AreaSubscription, AreaAPIKeys, AreaGroups, AreaNotifications}
}

// Read is the permission to read area; Write the permission to change it.
func Read(area string) string  { return area + ":read" }
func Write(area string) string { return area + ":write" }

// Level is how much of an area a role grants. The numbers are stored with roles (and equal the
// API's PermissionLevel values), so they never change.
type Level int32

const (
	LevelUnspecified Level = 0 // treated as LevelNone
	LevelNone        Level = 1
	LevelReadOnly    Level = 2
	LevelFull        Level = 3
)

// Levels maps each area to its level; its JSON form is stored with a role.
type Levels map[string]Level

// Of returns the level of area, LevelNone when unset.
func (l Levels) Of(area string) Level {
	if v, ok := l[area]; ok && v != LevelUnspecified {
		return v
	}
	return LevelNone
}

// Grants turns levels into identity permissions: full grants read and write, read-only read.
func (l Levels) Grants() []string {
	var out []string
	for _, area := range Areas() {
		switch l[area] {
		case LevelFull:
			out = append(out, Read(area), Write(area))
		case LevelReadOnly:
			out = append(out, Read(area))
		}
	}
	return out
}

// BuiltinRole names the roles every account starts with; the numbers are stored with roles.
type BuiltinRole int16

const (
	RoleCustom          BuiltinRole = 0
	RoleITProviderAdmin BuiltinRole = 1
	RoleVCIO            BuiltinRole = 2
	RoleEngineer        BuiltinRole = 3
)

// BuiltinRoleSeed is a built-in role as seeded into a new account.
type BuiltinRoleSeed struct {
	Kind   BuiltinRole
	Name   string
	Levels Levels
}

// BuiltinRoles are seeded into every account, as in myITprocess.
func BuiltinRoles() []BuiltinRoleSeed {
	const (
		full = LevelFull
		ro   = LevelReadOnly
		none = LevelNone
	)
	return []BuiltinRoleSeed{
		{RoleITProviderAdmin, "IT Provider Admin", Levels{
			AreaOrganizations: full, AreaReviews: full, AreaUsers: full, AreaRoles: full, AreaAccountSettings: full,
			AreaIntegrations: full, AreaMappings: full, AreaSubscription: full, AreaAPIKeys: full, AreaGroups: full,
			AreaNotifications: full,
		}},
		{RoleVCIO, "vCIO", Levels{
			AreaOrganizations: full, AreaReviews: full, AreaUsers: ro, AreaRoles: ro, AreaAccountSettings: ro,
			AreaIntegrations: ro, AreaMappings: full, AreaSubscription: ro, AreaAPIKeys: none, AreaGroups: full,
			AreaNotifications: ro,
		}},
		{RoleEngineer, "Engineer", Levels{
			AreaOrganizations: ro, AreaReviews: full, AreaUsers: ro, AreaRoles: none, AreaAccountSettings: none,
			AreaIntegrations: none, AreaMappings: ro, AreaSubscription: none, AreaAPIKeys: none, AreaGroups: ro,
			AreaNotifications: none,
		}},
	}
}
