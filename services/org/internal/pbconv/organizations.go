package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Organization is o as the API and the organization.* events show it.
func Organization(o domain.Organization) *orgv1.Organization {
	out := &orgv1.Organization{Id: o.ID, Name: o.Name, TypeId: o.TypeID, StatusId: o.StatusID, ParentId: o.ParentID,
		DefaultEngineerId: o.DefaultEngineerID, DefaultVcioId: o.DefaultVCIOID, GroupIds: o.GroupIDs, Notes: o.Notes,
		State: orgv1.OrganizationState(o.State), HasLogo: o.HasLogo,
		CreateTime: timestamppb.New(o.CreatedAt), UpdateTime: timestamppb.New(o.UpdatedAt)}
	if !o.DeactivatedAt.IsZero() {
		out.DeactivateTime = timestamppb.New(o.DeactivatedAt)
	}
	return out
}

// Organizations converts a list of organizations.
func Organizations(orgs []domain.Organization) []*orgv1.Organization {
	out := make([]*orgv1.Organization, len(orgs))
	for i, o := range orgs {
		out[i] = Organization(o)
	}
	return out
}

// OrganizationFromProto takes the fields of o a caller may write; output-only fields are ignored.
func OrganizationFromProto(o *orgv1.Organization) domain.Organization {
	return domain.Organization{ID: o.GetId(), Name: o.GetName(), TypeID: o.GetTypeId(), StatusID: o.GetStatusId(),
		ParentID: o.GetParentId(), DefaultEngineerID: o.GetDefaultEngineerId(), DefaultVCIOID: o.GetDefaultVcioId(),
		GroupIDs: o.GetGroupIds(), Notes: o.GetNotes()}
}

// OrganizationsFromProto converts a list of organizations to write.
func OrganizationsFromProto(orgs []*orgv1.Organization) []domain.Organization {
	out := make([]domain.Organization, len(orgs))
	for i, o := range orgs {
		out[i] = OrganizationFromProto(o)
	}
	return out
}

// OrganizationFilter is the selection of a list request.
func OrganizationFilter(req *orgv1.ListOrganizationsRequest) domain.OrganizationFilter {
	return domain.OrganizationFilter{Query: req.GetQuery(), State: domain.State(req.GetState()), GroupID: req.GetGroupId(),
		TypeID: req.GetTypeId(), StatusID: req.GetStatusId(), EngineerID: req.GetEngineerId(), VCIOID: req.GetVcioId(),
		ParentID: req.GetParentId()}
}
