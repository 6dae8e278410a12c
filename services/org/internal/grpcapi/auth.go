package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterAuth registers orgv1.AuthService, through which the gateway resolves API keys, on s.
func RegisterAuth(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterAuthServiceServer(s, &authServer{svc: svc})
}

type authServer struct {
	orgv1.UnimplementedAuthServiceServer
	svc *app.Service
}

func (a *authServer) AuthenticateApiKey(ctx context.Context, req *orgv1.AuthenticateApiKeyRequest) (*orgv1.AuthenticateApiKeyResponse, error) {
	id, err := a.svc.AuthenticateAPIKey(ctx, req.GetDigest())
	if err != nil {
		return nil, err
	}
	return pbconv.KeyIdentity(id), nil
}
