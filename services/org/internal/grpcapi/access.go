package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterAccess registers orgv1.AccessService (users, roles, API keys) on s.
func RegisterAccess(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterAccessServiceServer(s, &accessServer{svc: svc})
}

type accessServer struct {
	orgv1.UnimplementedAccessServiceServer
	svc *app.Service
}

func (a *accessServer) CreateUser(ctx context.Context, req *orgv1.CreateUserRequest) (*orgv1.User, error) {
	u, err := a.svc.CreateUser(ctx, req.GetAccountId(), pbconv.NewUser(req.GetUser()))
	if err != nil {
		return nil, err
	}
	return pbconv.User(u), nil
}

func (a *accessServer) GetUser(ctx context.Context, req *orgv1.GetUserRequest) (*orgv1.User, error) {
	u, err := a.svc.User(ctx, req.GetAccountId(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return pbconv.User(u), nil
}

func (a *accessServer) ListUsers(ctx context.Context, req *orgv1.ListUsersRequest) (*orgv1.ListUsersResponse, error) {
	users, next, err := a.svc.ListUsers(ctx, req.GetAccountId(), req.GetQuery(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &orgv1.ListUsersResponse{Users: pbconv.Users(users), NextPageToken: next}, nil
}

func (a *accessServer) UpdateUser(ctx context.Context, req *orgv1.UpdateUserRequest) (*orgv1.User, error) {
	u, err := a.svc.UpdateUser(ctx, req.GetAccountId(), pbconv.UserChange(req.GetUser()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return pbconv.User(u), nil
}

func (a *accessServer) CreateRole(ctx context.Context, req *orgv1.CreateRoleRequest) (*orgv1.Role, error) {
	r, err := a.svc.CreateRole(ctx, req.GetAccountId(), pbconv.RoleFromProto(req.GetRole()))
	if err != nil {
		return nil, err
	}
	return pbconv.Role(r), nil
}

func (a *accessServer) ListRoles(ctx context.Context, req *orgv1.ListRolesRequest) (*orgv1.ListRolesResponse, error) {
	roles, next, err := a.svc.ListRoles(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &orgv1.ListRolesResponse{Roles: pbconv.Roles(roles), NextPageToken: next}, nil
}

func (a *accessServer) UpdateRole(ctx context.Context, req *orgv1.UpdateRoleRequest) (*orgv1.Role, error) {
	r, err := a.svc.UpdateRole(ctx, req.GetAccountId(), pbconv.RoleFromProto(req.GetRole()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return pbconv.Role(r), nil
}

func (a *accessServer) DeleteRole(ctx context.Context, req *orgv1.DeleteRoleRequest) (*emptypb.Empty, error) {
	if err := a.svc.DeleteRole(ctx, req.GetAccountId(), req.GetRoleId()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (a *accessServer) CreateApiKey(ctx context.Context, req *orgv1.CreateApiKeyRequest) (*orgv1.CreateApiKeyResponse, error) {
	k, secret, err := a.svc.CreateAPIKey(ctx, req.GetAccountId(), pbconv.APIKeyFromProto(req.GetApiKey()))
	if err != nil {
		return nil, err
	}
	return &orgv1.CreateApiKeyResponse{ApiKey: pbconv.APIKey(k), Secret: secret}, nil
}

func (a *accessServer) ListApiKeys(ctx context.Context, req *orgv1.ListApiKeysRequest) (*orgv1.ListApiKeysResponse, error) {
	keys, next, err := a.svc.ListAPIKeys(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &orgv1.ListApiKeysResponse{ApiKeys: pbconv.APIKeys(keys), NextPageToken: next}, nil
}

func (a *accessServer) RevokeApiKey(ctx context.Context, req *orgv1.RevokeApiKeyRequest) (*orgv1.ApiKey, error) {
	k, err := a.svc.RevokeAPIKey(ctx, req.GetAccountId(), req.GetApiKeyId())
	if err != nil {
		return nil, err
	}
	return pbconv.APIKey(k), nil
}
