package grpcapi

import (
	"context"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterAccounts registers orgv1.AccountService (accounts, their settings and logo) on s.
func RegisterAccounts(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterAccountServiceServer(s, &accountServer{svc: svc})
}

type accountServer struct {
	orgv1.UnimplementedAccountServiceServer
	svc *app.Service
}

func (a *accountServer) CreateAccount(ctx context.Context, req *orgv1.CreateAccountRequest) (*orgv1.CreateAccountResponse, error) {
	created, err := a.svc.CreateAccount(ctx, req.GetAccount().GetDisplayName(), pbconv.NewUser(req.GetAdministrator()))
	if err != nil {
		return nil, err
	}
	return &orgv1.CreateAccountResponse{
		Account:             pbconv.Account(created.Account),
		Administrator:       pbconv.User(created.Administrator),
		AdministratorApiKey: created.AdministratorKey,
	}, nil
}

func (a *accountServer) GetAccount(ctx context.Context, req *orgv1.GetAccountRequest) (*orgv1.Account, error) {
	acct, err := a.svc.Account(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return pbconv.Account(acct), nil
}

func (a *accountServer) ListAccounts(ctx context.Context, req *orgv1.ListAccountsRequest) (*orgv1.ListAccountsResponse, error) {
	list, next, err := a.svc.ListAccounts(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &orgv1.ListAccountsResponse{Accounts: pbconv.Accounts(list), NextPageToken: next}, nil
}

func (a *accountServer) GetAccountSettings(ctx context.Context, req *orgv1.GetAccountSettingsRequest) (*orgv1.AccountSettings, error) {
	st, err := a.svc.AccountSettings(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return pbconv.Settings(st), nil
}

func (a *accountServer) UpdateAccountSettings(ctx context.Context, req *orgv1.UpdateAccountSettingsRequest) (*orgv1.AccountSettings, error) {
	st, err := a.svc.UpdateAccountSettings(ctx, req.GetAccountId(), pbconv.SettingsFromProto(req.GetSettings()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return pbconv.Settings(st), nil
}

func (a *accountServer) SetAccountLogo(ctx context.Context, req *orgv1.SetAccountLogoRequest) (*orgv1.LogoInfo, error) {
	info, err := a.svc.SetAccountLogo(ctx, req.GetAccountId(), req.GetData())
	if err != nil {
		return nil, err
	}
	return pbconv.LogoInfo(info), nil
}

func (a *accountServer) GetAccountLogo(ctx context.Context, req *orgv1.GetAccountLogoRequest) (*httpbody.HttpBody, error) {
	l, err := a.svc.AccountLogo(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return logoBody(ctx, l)
}

func (a *accountServer) DeleteAccountLogo(ctx context.Context, req *orgv1.DeleteAccountLogoRequest) (*orgv1.DeleteAccountLogoResponse, error) {
	if err := a.svc.DeleteAccountLogo(ctx, req.GetAccountId()); err != nil {
		return nil, err
	}
	return &orgv1.DeleteAccountLogoResponse{}, nil
}
