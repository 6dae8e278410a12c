// Package grpcapi is the billing service's gRPC transport.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/billing/internal/billing"
)

// Register registers the billing service on s.
func Register(s grpc.ServiceRegistrar, svc *billing.Service) {
	billingv1.RegisterBillingServiceServer(s, &server{svc: svc})
}

type server struct {
	billingv1.UnimplementedBillingServiceServer
	svc *billing.Service
}

func (s *server) GetSubscription(ctx context.Context, req *billingv1.GetSubscriptionRequest) (*billingv1.Subscription, error) {
	return s.svc.GetSubscription(ctx, req.GetAccountId())
}

func (s *server) UpdateSubscription(ctx context.Context, req *billingv1.UpdateSubscriptionRequest) (*billingv1.Subscription, error) {
	return s.svc.UpdateSubscription(ctx, req)
}

func (s *server) AddLicenses(ctx context.Context, req *billingv1.AddLicensesRequest) (*billingv1.Subscription, error) {
	return s.svc.AddLicenses(ctx, req.GetAccountId(), req.GetCount())
}

func (s *server) RemoveLicenses(ctx context.Context, req *billingv1.RemoveLicensesRequest) (*billingv1.Subscription, error) {
	return s.svc.RemoveLicenses(ctx, req.GetAccountId(), req.GetCount())
}

func (s *server) GetLicenseUsage(ctx context.Context, req *billingv1.GetLicenseUsageRequest) (*billingv1.LicenseUsage, error) {
	return s.svc.GetLicenseUsage(ctx, req.GetAccountId())
}

func (s *server) ListLicenseChanges(ctx context.Context, req *billingv1.ListLicenseChangesRequest) (*billingv1.ListLicenseChangesResponse, error) {
	c, err := s.svc.ListLicenseChanges(ctx, req.GetAccountId())
	return &billingv1.ListLicenseChangesResponse{Changes: c}, err
}

func (s *server) ListUsageHistory(ctx context.Context, req *billingv1.ListUsageHistoryRequest) (*billingv1.ListUsageHistoryResponse, error) {
	d, err := s.svc.ListUsageHistory(ctx, req.GetAccountId(), req.GetStartDate(), req.GetEndDate())
	return &billingv1.ListUsageHistoryResponse{Days: d}, err
}

// OrgEnforcer adapts the org service's generated LicenseService client to billing.Enforcer.
type OrgEnforcer struct{ Client orgv1.LicenseServiceClient }

// SetLicenseLimit forwards to the org service.
func (e OrgEnforcer) SetLicenseLimit(ctx context.Context, req *orgv1.SetLicenseLimitRequest) (*orgv1.LicenseUsage, error) {
	return e.Client.SetLicenseLimit(ctx, req)
}

// GetLicenseUsage forwards to the org service.
func (e OrgEnforcer) GetLicenseUsage(ctx context.Context, accountID string) (*orgv1.LicenseUsage, error) {
	return e.Client.GetLicenseUsage(ctx, &orgv1.GetLicenseUsageRequest{AccountId: accountID})
}
