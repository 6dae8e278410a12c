// Package grpcapi is the mapping service's gRPC transport: requests to use cases, domain values
// to protos, nothing else.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	"github.com/orgplane/orgplane/services/mapping/internal/app"
	"github.com/orgplane/orgplane/services/mapping/internal/pbconv"
)

// Register registers the MappingService on s.
func Register(s grpc.ServiceRegistrar, svc *app.Service) {
	mappingv1.RegisterMappingServiceServer(s, &mapping{svc: svc})
}

type mapping struct {
	mappingv1.UnimplementedMappingServiceServer
	svc *app.Service
}

func (m *mapping) ListOrganizationLinks(ctx context.Context, req *mappingv1.ListOrganizationLinksRequest) (*mappingv1.ListOrganizationLinksResponse, error) {
	links, next, err := m.svc.OrganizationLinks(ctx, req.GetAccountId(), req.GetOrganizationId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &mappingv1.ListOrganizationLinksResponse{NextPageToken: next, Links: make([]*mappingv1.Link, 0, len(links))}
	for _, l := range links {
		resp.Links = append(resp.Links, pbconv.Link(l))
	}
	return resp, nil
}
