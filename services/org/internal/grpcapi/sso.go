package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterSingleSignOn registers orgv1.SingleSignOnService on s.
func RegisterSingleSignOn(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterSingleSignOnServiceServer(s, &singleSignOnServer{svc: svc})
}

type singleSignOnServer struct {
	orgv1.UnimplementedSingleSignOnServiceServer
	svc *app.Service
}

func (a *singleSignOnServer) GetSingleSignOnProvider(ctx context.Context, req *orgv1.GetSingleSignOnProviderRequest) (*orgv1.SingleSignOnProvider, error) {
	p, err := a.svc.SingleSignOnProvider(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return pbconv.SSOProvider(p), nil
}

func (a *singleSignOnServer) UpdateSingleSignOnProvider(ctx context.Context, req *orgv1.UpdateSingleSignOnProviderRequest) (*orgv1.SingleSignOnProvider, error) {
	p, err := a.svc.UpdateSingleSignOnProvider(ctx, req.GetAccountId(), pbconv.SSOProviderChange(req.GetProvider()))
	if err != nil {
		return nil, err
	}
	return pbconv.SSOProvider(p), nil
}

func (a *singleSignOnServer) DeleteSingleSignOnProvider(ctx context.Context, req *orgv1.DeleteSingleSignOnProviderRequest) (*orgv1.DeleteSingleSignOnProviderResponse, error) {
	if err := a.svc.DeleteSingleSignOnProvider(ctx, req.GetAccountId()); err != nil {
		return nil, err
	}
	return &orgv1.DeleteSingleSignOnProviderResponse{}, nil
}

func (a *singleSignOnServer) StartSingleSignOn(ctx context.Context, req *orgv1.StartSingleSignOnRequest) (*orgv1.StartSingleSignOnResponse, error) {
	s, err := a.svc.StartSingleSignOn(ctx, req.GetAccountId(), req.GetEmail(), req.GetReturnPath(), client(ctx))
	if err != nil {
		return nil, err
	}
	return pbconv.SSOStart(s), nil
}

func (a *singleSignOnServer) CompleteSingleSignOn(ctx context.Context, req *orgv1.CompleteSingleSignOnRequest) (*orgv1.SignInResponse, error) {
	in := domain.SSOCallback{State: req.GetState(), Code: req.GetCode(), Error: req.GetError(), Binding: req.GetFlowBinding()}
	s, err := a.svc.CompleteSingleSignOn(ctx, in, client(ctx))
	if err != nil {
		return nil, err
	}
	return pbconv.SSOSignIn(s), nil
}
