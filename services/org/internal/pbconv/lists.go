package pbconv

import (
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// OrganizationType converts an entry of the types list.
func OrganizationType(t domain.Type) *orgv1.OrganizationType {
	return &orgv1.OrganizationType{Id: t.ID, Name: t.Name}
}

// OrganizationTypes converts the types list.
func OrganizationTypes(ts []domain.Type) []*orgv1.OrganizationType {
	out := make([]*orgv1.OrganizationType, len(ts))
	for i, t := range ts {
		out[i] = OrganizationType(t)
	}
	return out
}

// OrganizationStatus converts an entry of the statuses list.
func OrganizationStatus(s domain.Status) *orgv1.OrganizationStatus {
	return &orgv1.OrganizationStatus{Id: s.ID, Name: s.Name}
}

// OrganizationStatuses converts the statuses list.
func OrganizationStatuses(ss []domain.Status) []*orgv1.OrganizationStatus {
	out := make([]*orgv1.OrganizationStatus, len(ss))
	for i, s := range ss {
		out[i] = OrganizationStatus(s)
	}
	return out
}

// Group converts a group.
func Group(g domain.Group) *orgv1.Group {
	return &orgv1.Group{Id: g.ID, Name: g.Name, Color: g.Color, Archived: g.Archived}
}

// Groups converts a list of groups.
func Groups(gs []domain.Group) []*orgv1.Group {
	out := make([]*orgv1.Group, len(gs))
	for i, g := range gs {
		out[i] = Group(g)
	}
	return out
}

// GroupFromProto takes the fields of g a caller may write.
func GroupFromProto(g *orgv1.Group) domain.Group {
	return domain.Group{ID: g.GetId(), Name: g.GetName(), Color: g.GetColor(), Archived: g.GetArchived()}
}
