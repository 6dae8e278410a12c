package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterSync serves orgv1.OrganizationSyncService, the PSA sync's way to change organizations
// on its own behalf; no REST route leads to it.
func RegisterSync(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterOrganizationSyncServiceServer(s, &syncs{svc: svc})
}

type syncs struct {
	orgv1.UnimplementedOrganizationSyncServiceServer
	svc *app.Service
}

func (s *syncs) CreateSyncedOrganization(ctx context.Context, req *orgv1.CreateSyncedOrganizationRequest) (*orgv1.Organization, error) {
	o, err := s.svc.CreateSyncedOrganization(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetRequestId(), pbconv.OrganizationFromProto(req.GetOrganization()))
	if err != nil {
		return nil, err
	}
	return pbconv.Organization(o), nil
}

func (s *syncs) UpdateSyncedOrganization(ctx context.Context, req *orgv1.UpdateSyncedOrganizationRequest) (*orgv1.Organization, error) {
	o, err := s.svc.UpdateSyncedOrganization(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetOrganizationId(),
		pbconv.SyncUpdate(req))
	if err != nil {
		return nil, err
	}
	return pbconv.Organization(o), nil
}

func (s *syncs) DeleteSyncedOrganization(ctx context.Context, req *orgv1.DeleteSyncedOrganizationRequest) (*orgv1.DeleteOrganizationResponse, error) {
	ids, err := s.svc.DeleteSyncedOrganization(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	return &orgv1.DeleteOrganizationResponse{DeletedOrganizationIds: ids}, nil
}
