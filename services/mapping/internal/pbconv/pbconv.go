// Package pbconv turns the mapping service's domain values into their protos, for the API and
// for events alike.
package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
)

// Link is a link's proto.
func Link(l domain.Link) *mappingv1.Link {
	return &mappingv1.Link{
		Id: l.ID, OrganizationId: l.OrganizationID, IntegrationId: l.IntegrationID,
		ExternalOrganizationId: l.ExternalOrganizationID, ExternalName: l.ExternalName,
		Method: mappingv1.LinkMethod(l.Method), CreatedBy: l.CreatedBy, CreateTime: timestamppb.New(l.Created),
	}
}

// Row is a grid row's proto.
func Row(r domain.Row) *mappingv1.GridRow {
	p := &mappingv1.GridRow{OrganizationId: r.OrganizationID, OrganizationName: r.Name, ParentId: r.ParentID,
		Active: r.Active, Version: r.Version, Cells: make([]*mappingv1.GridCell, 0, len(r.Cells))}
	for _, c := range r.Cells {
		p.Cells = append(p.Cells, &mappingv1.GridCell{IntegrationId: c.IntegrationID, ExternalOrganizationId: c.ExternalID,
			ExternalName: c.ExternalName, State: mappingv1.ExternalState(c.State), Method: mappingv1.LinkMethod(c.Method)})
	}
	return p
}

// Licenses is a license count's proto.
func Licenses(l domain.Licenses) *mappingv1.Licenses {
	return &mappingv1.Licenses{Unlimited: l.Unlimited, Limit: int32(l.Limit), Used: int32(l.Used), Remaining: int32(max(l.Remaining(), 0))}
}
