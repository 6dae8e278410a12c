package grpcapi

import (
	"context"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterOrganizations serves orgv1.OrganizationService: organizations with their logos and
// bulk create, and the account's organization types, statuses and groups.
func RegisterOrganizations(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterOrganizationServiceServer(s, &organizations{svc: svc})
}

type organizations struct {
	orgv1.UnimplementedOrganizationServiceServer
	svc *app.Service
}

func (s *organizations) CreateOrganization(ctx context.Context, req *orgv1.CreateOrganizationRequest) (*orgv1.Organization, error) {
	o, err := s.svc.CreateOrganization(ctx, req.GetAccountId(), pbconv.OrganizationFromProto(req.GetOrganization()))
	if err != nil {
		return nil, err
	}
	return pbconv.Organization(o), nil
}

func (s *organizations) BulkCreateOrganizations(ctx context.Context, req *orgv1.BulkCreateOrganizationsRequest) (*orgv1.BulkCreateOrganizationsResponse, error) {
	orgs, err := s.svc.BulkCreateOrganizations(ctx, req.GetAccountId(), req.GetRequestId(), pbconv.OrganizationsFromProto(req.GetOrganizations()))
	if err != nil {
		return nil, err
	}
	return &orgv1.BulkCreateOrganizationsResponse{Organizations: pbconv.Organizations(orgs)}, nil
}

func (s *organizations) GetOrganization(ctx context.Context, req *orgv1.GetOrganizationRequest) (*orgv1.Organization, error) {
	o, err := s.svc.GetOrganization(ctx, req.GetAccountId(), req.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	return pbconv.Organization(o), nil
}

func (s *organizations) ListOrganizations(ctx context.Context, req *orgv1.ListOrganizationsRequest) (*orgv1.ListOrganizationsResponse, error) {
	order, err := domain.ParseOrganizationOrder(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	page, err := s.svc.ListOrganizations(ctx, app.OrganizationQuery{AccountID: req.GetAccountId(),
		Filter: pbconv.OrganizationFilter(req), Order: order, PageSize: req.GetPageSize(), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &orgv1.ListOrganizationsResponse{Organizations: pbconv.Organizations(page.Organizations),
		NextPageToken: page.NextPageToken, TotalSize: page.Total}, nil
}

func (s *organizations) UpdateOrganization(ctx context.Context, req *orgv1.UpdateOrganizationRequest) (*orgv1.Organization, error) {
	o, err := s.svc.UpdateOrganization(ctx, req.GetAccountId(), pbconv.OrganizationFromProto(req.GetOrganization()),
		req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return pbconv.Organization(o), nil
}

func (s *organizations) DeactivateOrganization(ctx context.Context, req *orgv1.DeactivateOrganizationRequest) (*orgv1.Organization, error) {
	o, err := s.svc.DeactivateOrganization(ctx, req.GetAccountId(), req.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	return pbconv.Organization(o), nil
}

func (s *organizations) ReactivateOrganization(ctx context.Context, req *orgv1.ReactivateOrganizationRequest) (*orgv1.Organization, error) {
	o, err := s.svc.ReactivateOrganization(ctx, req.GetAccountId(), req.GetOrganizationId(), req.GetOverrideCooldown())
	if err != nil {
		return nil, err
	}
	return pbconv.Organization(o), nil
}

func (s *organizations) DeleteOrganization(ctx context.Context, req *orgv1.DeleteOrganizationRequest) (*orgv1.DeleteOrganizationResponse, error) {
	ids, err := s.svc.DeleteOrganization(ctx, req.GetAccountId(), req.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	return &orgv1.DeleteOrganizationResponse{DeletedOrganizationIds: ids}, nil
}

func (s *organizations) SetOrganizationLogo(ctx context.Context, req *orgv1.SetOrganizationLogoRequest) (*orgv1.LogoInfo, error) {
	info, err := s.svc.SetOrganizationLogo(ctx, req.GetAccountId(), req.GetOrganizationId(), req.GetData())
	if err != nil {
		return nil, err
	}
	return pbconv.LogoInfo(info), nil
}

func (s *organizations) GetOrganizationLogo(ctx context.Context, req *orgv1.GetOrganizationLogoRequest) (*httpbody.HttpBody, error) {
	l, err := s.svc.OrganizationLogo(ctx, req.GetAccountId(), req.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	return logoBody(ctx, l)
}

func (s *organizations) CreateOrganizationType(ctx context.Context, req *orgv1.CreateOrganizationTypeRequest) (*orgv1.OrganizationType, error) {
	t, err := s.svc.CreateOrganizationType(ctx, req.GetAccountId(), req.GetOrganizationType().GetName())
	if err != nil {
		return nil, err
	}
	return pbconv.OrganizationType(t), nil
}

func (s *organizations) ListOrganizationTypes(ctx context.Context, req *orgv1.ListOrganizationTypesRequest) (*orgv1.ListOrganizationTypesResponse, error) {
	ts, next, err := s.svc.ListOrganizationTypes(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &orgv1.ListOrganizationTypesResponse{OrganizationTypes: pbconv.OrganizationTypes(ts), NextPageToken: next}, nil
}

func (s *organizations) CreateOrganizationStatus(ctx context.Context, req *orgv1.CreateOrganizationStatusRequest) (*orgv1.OrganizationStatus, error) {
	st, err := s.svc.CreateOrganizationStatus(ctx, req.GetAccountId(), req.GetOrganizationStatus().GetName())
	if err != nil {
		return nil, err
	}
	return pbconv.OrganizationStatus(st), nil
}

func (s *organizations) ListOrganizationStatuses(ctx context.Context, req *orgv1.ListOrganizationStatusesRequest) (*orgv1.ListOrganizationStatusesResponse, error) {
	ss, next, err := s.svc.ListOrganizationStatuses(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &orgv1.ListOrganizationStatusesResponse{OrganizationStatuses: pbconv.OrganizationStatuses(ss), NextPageToken: next}, nil
}

func (s *organizations) CreateGroup(ctx context.Context, req *orgv1.CreateGroupRequest) (*orgv1.Group, error) {
	g, err := s.svc.CreateGroup(ctx, req.GetAccountId(), pbconv.GroupFromProto(req.GetGroup()))
	if err != nil {
		return nil, err
	}
	return pbconv.Group(g), nil
}

func (s *organizations) ListGroups(ctx context.Context, req *orgv1.ListGroupsRequest) (*orgv1.ListGroupsResponse, error) {
	gs, next, err := s.svc.ListGroups(ctx, req.GetAccountId(), req.GetIncludeArchived(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &orgv1.ListGroupsResponse{Groups: pbconv.Groups(gs), NextPageToken: next}, nil
}

func (s *organizations) UpdateGroup(ctx context.Context, req *orgv1.UpdateGroupRequest) (*orgv1.Group, error) {
	g, err := s.svc.UpdateGroup(ctx, req.GetAccountId(), pbconv.GroupFromProto(req.GetGroup()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return pbconv.Group(g), nil
}
