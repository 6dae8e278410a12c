// Package grpcapi is the billing service's gRPC transport: it turns requests into use-case calls
// and domain values into responses (through pbconv), nothing else. Validation (protovalidate),
// authentication and error codes happen in the shared interceptors; authorization in app.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	"github.com/orgplane/orgplane/services/billing/internal/app"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/pbconv"
)

// Register registers the billing service on s.
func Register(s grpc.ServiceRegistrar, svc *app.Service) {
	billingv1.RegisterBillingServiceServer(s, &server{svc: svc})
}

type server struct {
	billingv1.UnimplementedBillingServiceServer
	svc *app.Service
}

func subscription(sub domain.Subscription, err error) (*billingv1.Subscription, error) {
	if err != nil {
		return nil, err
	}
	return pbconv.Subscription(sub), nil
}

func (s *server) GetSubscription(ctx context.Context, req *billingv1.GetSubscriptionRequest) (*billingv1.Subscription, error) {
	return subscription(s.svc.GetSubscription(ctx, req.GetAccountId()))
}

func (s *server) UpdateSubscription(ctx context.Context, req *billingv1.UpdateSubscriptionRequest) (*billingv1.Subscription, error) {
	return subscription(s.svc.UpdateSubscription(ctx, req.GetAccountId(), pbconv.SubscriptionFields(req.GetSubscription()),
		req.GetUpdateMask().GetPaths()))
}

func (s *server) AddLicenses(ctx context.Context, req *billingv1.AddLicensesRequest) (*billingv1.Subscription, error) {
	return subscription(s.svc.AddLicenses(ctx, req.GetAccountId(), req.GetCount()))
}

func (s *server) RemoveLicenses(ctx context.Context, req *billingv1.RemoveLicensesRequest) (*billingv1.Subscription, error) {
	return subscription(s.svc.RemoveLicenses(ctx, req.GetAccountId(), req.GetCount()))
}

func (s *server) GetLicenseUsage(ctx context.Context, req *billingv1.GetLicenseUsageRequest) (*billingv1.LicenseUsage, error) {
	u, err := s.svc.LicenseUsage(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return pbconv.LicenseUsage(u), nil
}

func (s *server) ListLicenseChanges(ctx context.Context, req *billingv1.ListLicenseChangesRequest) (*billingv1.ListLicenseChangesResponse, error) {
	cs, next, err := s.svc.LicenseChanges(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &billingv1.ListLicenseChangesResponse{Changes: pbconv.LicenseChanges(cs), NextPageToken: next}, nil
}

func (s *server) ListUsageHistory(ctx context.Context, req *billingv1.ListUsageHistoryRequest) (*billingv1.ListUsageHistoryResponse, error) {
	ds, next, err := s.svc.UsageHistory(ctx, req.GetAccountId(), req.GetStartDate(), req.GetEndDate(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &billingv1.ListUsageHistoryResponse{Days: pbconv.DailyUsage(ds), NextPageToken: next}, nil
}
