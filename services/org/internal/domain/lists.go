package domain

import "github.com/orgplane/orgplane/pkg/apperr"

// Type is an entry of the account's list of organization types.
type Type struct {
	ID   string
	Name string
}

// Status is an entry of the account's list of organization statuses.
type Status struct {
	ID   string
	Name string
}

// DefaultGroupColor is the color of a group created without one.
const DefaultGroupColor = "#607D8B"

// Group is a custom group of organizations; users restricted to groups see only theirs.
type Group struct {
	ID       string
	Name     string
	Color    string
	Archived bool
}

// ErrDuplicateListEntry refuses a second type or status of the same name.
var ErrDuplicateListEntry = apperr.Conflict("an entry with this name already exists")

// ErrDuplicateGroupName refuses a second group of the same name.
var ErrDuplicateGroupName = apperr.Conflict("a group with this name already exists")

// NewGroup checks a group to create and fills in the default color.
func NewGroup(g Group) (Group, error) {
	if err := CheckName("group", g.Name); err != nil {
		return Group{}, err
	}
	if g.Color == "" {
		g.Color = DefaultGroupColor
	}
	return g, nil
}

// Apply returns g with the fields named by paths taken from in; a name or color cannot be
// cleared.
func (g Group) Apply(paths []string, in Group) (Group, error) {
	for _, p := range paths {
		switch p {
		case "name":
			if err := CheckName("group", in.Name); err != nil {
				return Group{}, err
			}
			g.Name = in.Name
		case "color":
			if in.Color == "" {
				return Group{}, apperr.Invalid("group.color", "is required")
			}
			g.Color = in.Color
		case "archived":
			g.Archived = in.Archived
		}
	}
	return g, nil
}
