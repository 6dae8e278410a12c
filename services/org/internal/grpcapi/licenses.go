package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterLicenses registers orgv1.LicenseService, the billing service's way to set the limit
// org enforces, on s.
func RegisterLicenses(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterLicenseServiceServer(s, &licenses{svc: svc})
}

type licenses struct {
	orgv1.UnimplementedLicenseServiceServer
	svc *app.Service
}

func (l *licenses) SetLicenseLimit(ctx context.Context, req *orgv1.SetLicenseLimitRequest) (*orgv1.LicenseUsage, error) {
	u, err := l.svc.SetLicenseLimit(ctx, req.GetAccountId(), pbconv.LicenseLimit(req))
	if err != nil {
		return nil, err
	}
	return pbconv.LicenseUsage(u), nil
}

func (l *licenses) GetLicenseUsage(ctx context.Context, req *orgv1.GetLicenseUsageRequest) (*orgv1.LicenseUsage, error) {
	u, err := l.svc.LicenseUsage(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return pbconv.LicenseUsage(u), nil
}
