// Package grpcapi is the org service's gRPC transport: it hands requests to the registry and
// shapes its answers, nothing else. Validation (protovalidate), authentication and error codes
// happen in the shared interceptors; authorization in the registry.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/registry"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

func pageSize(n int32) int {
	if n <= 0 {
		return defaultPageSize
	}
	return min(int(n), maxPageSize)
}

// Register registers every org service on s.
func Register(s grpc.ServiceRegistrar, reg *registry.Service, pages *pagetoken.Sealer) {
	orgv1.RegisterAccountServiceServer(s, &accounts{reg: reg, pages: pages})
	orgv1.RegisterAccessServiceServer(s, &access{reg: reg, pages: pages})
	orgv1.RegisterAuthServiceServer(s, &auth{reg: reg})
	orgv1.RegisterOrganizationServiceServer(s, &organizations{reg: reg})
	orgv1.RegisterReviewServiceServer(s, &reviews{reg: reg})
	orgv1.RegisterLicenseServiceServer(s, &licenses{reg: reg})
}

type licenses struct {
	orgv1.UnimplementedLicenseServiceServer
	reg *registry.Service
}

func (s *licenses) SetLicenseLimit(ctx context.Context, req *orgv1.SetLicenseLimitRequest) (*orgv1.LicenseUsage, error) {
	return s.reg.SetLicenseLimit(ctx, req)
}

func (s *licenses) GetLicenseUsage(ctx context.Context, req *orgv1.GetLicenseUsageRequest) (*orgv1.LicenseUsage, error) {
	return s.reg.GetLicenseUsage(ctx, req.GetAccountId())
}

// Response headers the gateway turns into HTTP headers (see the gateway's header matcher).
const (
	HeaderCacheControl = "x-http-cache-control"
	HeaderETag         = "x-http-etag"
	HeaderLastModified = "x-http-last-modified"
)

// logoBody returns a logo as raw bytes with caching headers: browsers may keep it for a while
// and revalidate by ETag.
func logoBody(ctx context.Context, l registry.Logo) (*httpbody.HttpBody, error) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(
		HeaderCacheControl, "private, max-age=300, must-revalidate",
		HeaderETag, l.ETag(),
		HeaderLastModified, l.Updated.UTC().Format(time.RFC1123),
	))
	return &httpbody.HttpBody{ContentType: l.ContentType, Data: l.Data}, nil
}

type accounts struct {
	orgv1.UnimplementedAccountServiceServer
	reg   *registry.Service
	pages *pagetoken.Sealer
}

var errBadPageToken = apperr.Invalid("page_token", "is not a token from a previous page of this list")

func (s *accounts) CreateAccount(ctx context.Context, req *orgv1.CreateAccountRequest) (*orgv1.CreateAccountResponse, error) {
	return s.reg.CreateAccount(ctx, req)
}

func (s *accounts) GetAccount(ctx context.Context, req *orgv1.GetAccountRequest) (*orgv1.Account, error) {
	return s.reg.GetAccount(ctx, req.GetAccountId())
}

type accountToken struct {
	T time.Time `json:"t"`
	I string    `json:"i"`
}

func (s *accounts) ListAccounts(ctx context.Context, req *orgv1.ListAccountsRequest) (*orgv1.ListAccountsResponse, error) {
	size := pageSize(req.GetPageSize())
	p := registry.AccountPage{Size: size + 1}
	if t := req.GetPageToken(); t != "" {
		var tok accountToken
		if err := s.pages.Open("accounts", t, &tok); err != nil || tok.I == "" {
			return nil, errBadPageToken
		}
		p.AfterTime, p.AfterID = tok.T, tok.I
	}
	list, err := s.reg.ListAccounts(ctx, p)
	if err != nil {
		return nil, err
	}
	resp := &orgv1.ListAccountsResponse{Accounts: list}
	if len(list) > size {
		resp.Accounts = list[:size]
		last := list[size-1]
		if resp.NextPageToken, err = s.pages.Seal("accounts", accountToken{T: last.GetCreateTime().AsTime(), I: last.GetId()}); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *accounts) GetAccountSettings(ctx context.Context, req *orgv1.GetAccountSettingsRequest) (*orgv1.AccountSettings, error) {
	return s.reg.GetAccountSettings(ctx, req.GetAccountId())
}

func (s *accounts) UpdateAccountSettings(ctx context.Context, req *orgv1.UpdateAccountSettingsRequest) (*orgv1.AccountSettings, error) {
	return s.reg.UpdateAccountSettings(ctx, req)
}

func (s *accounts) SetAccountLogo(ctx context.Context, req *orgv1.SetAccountLogoRequest) (*orgv1.LogoInfo, error) {
	return s.reg.SetAccountLogo(ctx, req.GetAccountId(), req.GetData())
}

func (s *accounts) GetAccountLogo(ctx context.Context, req *orgv1.GetAccountLogoRequest) (*httpbody.HttpBody, error) {
	l, err := s.reg.AccountLogo(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return logoBody(ctx, l)
}

func (s *accounts) DeleteAccountLogo(ctx context.Context, req *orgv1.DeleteAccountLogoRequest) (*orgv1.DeleteAccountLogoResponse, error) {
	return &orgv1.DeleteAccountLogoResponse{}, s.reg.DeleteAccountLogo(ctx, req.GetAccountId())
}

type access struct {
	orgv1.UnimplementedAccessServiceServer
	reg   *registry.Service
	pages *pagetoken.Sealer
}

func (s *access) CreateUser(ctx context.Context, req *orgv1.CreateUserRequest) (*orgv1.User, error) {
	return s.reg.CreateUser(ctx, req)
}

func (s *access) GetUser(ctx context.Context, req *orgv1.GetUserRequest) (*orgv1.User, error) {
	return s.reg.GetUser(ctx, req.GetAccountId(), req.GetUserId())
}

func (s *access) ListUsers(ctx context.Context, req *orgv1.ListUsersRequest) (*orgv1.ListUsersResponse, error) {
	size := pageSize(req.GetPageSize())
	after := ""
	if t := req.GetPageToken(); t != "" {
		if err := s.pages.Open("users", t, &after); err != nil || after == "" {
			return nil, errBadPageToken
		}
	}
	users, err := s.reg.ListUsers(ctx, req.GetAccountId(), size+1, after)
	if err != nil {
		return nil, err
	}
	resp := &orgv1.ListUsersResponse{Users: users}
	if len(users) > size {
		resp.Users = users[:size]
		if resp.NextPageToken, err = s.pages.Seal("users", users[size-1].GetId()); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *access) UpdateUser(ctx context.Context, req *orgv1.UpdateUserRequest) (*orgv1.User, error) {
	return s.reg.UpdateUser(ctx, req)
}

func (s *access) CreateRole(ctx context.Context, req *orgv1.CreateRoleRequest) (*orgv1.Role, error) {
	return s.reg.CreateRole(ctx, req.GetAccountId(), req.GetRole())
}

func (s *access) ListRoles(ctx context.Context, req *orgv1.ListRolesRequest) (*orgv1.ListRolesResponse, error) {
	roles, err := s.reg.ListRoles(ctx, req.GetAccountId())
	return &orgv1.ListRolesResponse{Roles: roles}, err
}

func (s *access) UpdateRole(ctx context.Context, req *orgv1.UpdateRoleRequest) (*orgv1.Role, error) {
	return s.reg.UpdateRole(ctx, req)
}

func (s *access) CreateApiKey(ctx context.Context, req *orgv1.CreateApiKeyRequest) (*orgv1.CreateApiKeyResponse, error) {
	return s.reg.CreateAPIKey(ctx, req.GetAccountId(), req.GetApiKey())
}

func (s *access) ListApiKeys(ctx context.Context, req *orgv1.ListApiKeysRequest) (*orgv1.ListApiKeysResponse, error) {
	keys, err := s.reg.ListAPIKeys(ctx, req.GetAccountId())
	return &orgv1.ListApiKeysResponse{ApiKeys: keys}, err
}

func (s *access) RevokeApiKey(ctx context.Context, req *orgv1.RevokeApiKeyRequest) (*orgv1.ApiKey, error) {
	return s.reg.RevokeAPIKey(ctx, req.GetAccountId(), req.GetApiKeyId())
}

type auth struct {
	orgv1.UnimplementedAuthServiceServer
	reg *registry.Service
}

func (s *auth) AuthenticateApiKey(ctx context.Context, req *orgv1.AuthenticateApiKeyRequest) (*orgv1.AuthenticateApiKeyResponse, error) {
	return s.reg.AuthenticateAPIKey(ctx, req.GetSecret())
}

type organizations struct {
	orgv1.UnimplementedOrganizationServiceServer
	reg *registry.Service
}

func (s *organizations) CreateOrganization(ctx context.Context, req *orgv1.CreateOrganizationRequest) (*orgv1.Organization, error) {
	return s.reg.CreateOrganization(ctx, req.GetAccountId(), req.GetOrganization())
}

func (s *organizations) BulkCreateOrganizations(ctx context.Context, req *orgv1.BulkCreateOrganizationsRequest) (*orgv1.BulkCreateOrganizationsResponse, error) {
	orgs, err := s.reg.BulkCreateOrganizations(ctx, req.GetAccountId(), req.GetOrganizations())
	return &orgv1.BulkCreateOrganizationsResponse{Organizations: orgs}, err
}

func (s *organizations) GetOrganization(ctx context.Context, req *orgv1.GetOrganizationRequest) (*orgv1.Organization, error) {
	return s.reg.GetOrganization(ctx, req.GetAccountId(), req.GetOrganizationId())
}

func (s *organizations) ListOrganizations(ctx context.Context, req *orgv1.ListOrganizationsRequest) (*orgv1.ListOrganizationsResponse, error) {
	req.PageSize = int32(pageSize(req.GetPageSize()))
	return s.reg.ListOrganizations(ctx, req)
}

func (s *organizations) UpdateOrganization(ctx context.Context, req *orgv1.UpdateOrganizationRequest) (*orgv1.Organization, error) {
	return s.reg.UpdateOrganization(ctx, req)
}

func (s *organizations) DeactivateOrganization(ctx context.Context, req *orgv1.DeactivateOrganizationRequest) (*orgv1.Organization, error) {
	return s.reg.DeactivateOrganization(ctx, req.GetAccountId(), req.GetOrganizationId())
}

func (s *organizations) ReactivateOrganization(ctx context.Context, req *orgv1.ReactivateOrganizationRequest) (*orgv1.Organization, error) {
	return s.reg.ReactivateOrganization(ctx, req.GetAccountId(), req.GetOrganizationId(), req.GetOverrideCooldown())
}

func (s *organizations) DeleteOrganization(ctx context.Context, req *orgv1.DeleteOrganizationRequest) (*orgv1.DeleteOrganizationResponse, error) {
	ids, err := s.reg.DeleteOrganization(ctx, req.GetAccountId(), req.GetOrganizationId())
	return &orgv1.DeleteOrganizationResponse{DeletedOrganizationIds: ids}, err
}

func (s *organizations) SetOrganizationLogo(ctx context.Context, req *orgv1.SetOrganizationLogoRequest) (*orgv1.LogoInfo, error) {
	return s.reg.SetOrganizationLogo(ctx, req.GetAccountId(), req.GetOrganizationId(), req.GetData())
}

func (s *organizations) GetOrganizationLogo(ctx context.Context, req *orgv1.GetOrganizationLogoRequest) (*httpbody.HttpBody, error) {
	l, err := s.reg.OrganizationLogo(ctx, req.GetAccountId(), req.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	return logoBody(ctx, l)
}

func (s *organizations) CreateOrganizationType(ctx context.Context, req *orgv1.CreateOrganizationTypeRequest) (*orgv1.OrganizationType, error) {
	return s.reg.CreateOrganizationType(ctx, req.GetAccountId(), req.GetOrganizationType())
}

func (s *organizations) ListOrganizationTypes(ctx context.Context, req *orgv1.ListOrganizationTypesRequest) (*orgv1.ListOrganizationTypesResponse, error) {
	t, err := s.reg.ListOrganizationTypes(ctx, req.GetAccountId())
	return &orgv1.ListOrganizationTypesResponse{OrganizationTypes: t}, err
}

func (s *organizations) CreateOrganizationStatus(ctx context.Context, req *orgv1.CreateOrganizationStatusRequest) (*orgv1.OrganizationStatus, error) {
	return s.reg.CreateOrganizationStatus(ctx, req.GetAccountId(), req.GetOrganizationStatus())
}

func (s *organizations) ListOrganizationStatuses(ctx context.Context, req *orgv1.ListOrganizationStatusesRequest) (*orgv1.ListOrganizationStatusesResponse, error) {
	st, err := s.reg.ListOrganizationStatuses(ctx, req.GetAccountId())
	return &orgv1.ListOrganizationStatusesResponse{OrganizationStatuses: st}, err
}

func (s *organizations) CreateGroup(ctx context.Context, req *orgv1.CreateGroupRequest) (*orgv1.Group, error) {
	return s.reg.CreateGroup(ctx, req.GetAccountId(), req.GetGroup())
}

func (s *organizations) ListGroups(ctx context.Context, req *orgv1.ListGroupsRequest) (*orgv1.ListGroupsResponse, error) {
	g, err := s.reg.ListGroups(ctx, req.GetAccountId(), req.GetIncludeArchived())
	return &orgv1.ListGroupsResponse{Groups: g}, err
}

func (s *organizations) UpdateGroup(ctx context.Context, req *orgv1.UpdateGroupRequest) (*orgv1.Group, error) {
	return s.reg.UpdateGroup(ctx, req)
}

type reviews struct {
	orgv1.UnimplementedReviewServiceServer
	reg *registry.Service
}

func (s *reviews) CreateReview(ctx context.Context, req *orgv1.CreateReviewRequest) (*orgv1.Review, error) {
	return s.reg.CreateReview(ctx, req.GetAccountId(), req.GetReview())
}

func (s *reviews) GetReview(ctx context.Context, req *orgv1.GetReviewRequest) (*orgv1.Review, error) {
	return s.reg.GetReview(ctx, req.GetAccountId(), req.GetReviewId())
}

func (s *reviews) ListReviews(ctx context.Context, req *orgv1.ListReviewsRequest) (*orgv1.ListReviewsResponse, error) {
	req.PageSize = int32(pageSize(req.GetPageSize()))
	return s.reg.ListReviews(ctx, req)
}

func (s *reviews) ReassignReview(ctx context.Context, req *orgv1.ReassignReviewRequest) (*orgv1.Review, error) {
	return s.reg.ReassignReview(ctx, req)
}
