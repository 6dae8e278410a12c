// Package pbconv converts between the billing service's domain types and its protos, in one
// place: grpcapi uses it for requests and responses, app for the payloads of the events it
// publishes.
package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

// Subscription is a subscription as the API (and SubscriptionChanged) shows it. An unlimited
// plan shows organization_limit 0, as documented: the stored limit is kept only so that a return
// to a limited plan starts from it, and means nothing while the plan is unlimited.
func Subscription(s domain.Subscription) *billingv1.Subscription {
	limit := s.Limit
	if s.Unlimited {
		limit = 0
	}
	return &billingv1.Subscription{
		AccountId:          s.AccountID,
		PlanName:           s.PlanName,
		Unlimited:          s.Unlimited,
		OrganizationLimit:  limit,
		State:              billingv1.SubscriptionState(s.State),
		CurrentPeriodStart: timestamppb.New(s.PeriodStart),
		CurrentPeriodEnd:   timestamppb.New(s.PeriodEnd),
		UpdateTime:         timestamppb.New(s.Updated),
	}
}

// SubscriptionFields reads the fields a platform operator sets on a subscription. An absent
// period reads as the Unix epoch, as it always has.
func SubscriptionFields(in *billingv1.Subscription) domain.Subscription {
	return domain.Subscription{
		PlanName:    in.GetPlanName(),
		Unlimited:   in.GetUnlimited(),
		State:       domain.State(in.GetState()),
		PeriodStart: in.GetCurrentPeriodStart().AsTime(),
		PeriodEnd:   in.GetCurrentPeriodEnd().AsTime(),
	}
}

// LicenseUsage is the usage box: limit, used, remaining and whether one more fits.
func LicenseUsage(u domain.Usage) *billingv1.LicenseUsage {
	out := &billingv1.LicenseUsage{Unlimited: u.Unlimited, Used: u.Used, Remaining: u.Remaining(),
		CanAddOrganizations: u.CanAddOrganizations()}
	if !u.Unlimited {
		out.OrganizationLimit = u.Limit
	}
	return out
}

// LicenseChanges converts the license history.
func LicenseChanges(cs []domain.LicenseChange) []*billingv1.LicenseChange {
	out := make([]*billingv1.LicenseChange, len(cs))
	for i, c := range cs {
		out[i] = &billingv1.LicenseChange{Id: c.ID, Delta: c.Delta, OrganizationLimit: c.Limit, ChangedBy: c.ChangedBy,
			ChangeTime: timestamppb.New(c.At)}
	}
	return out
}

// DailyUsage converts the usage history.
func DailyUsage(ds []domain.DailyUsage) []*billingv1.DailyUsage {
	out := make([]*billingv1.DailyUsage, len(ds))
	for i, d := range ds {
		out[i] = &billingv1.DailyUsage{Date: d.Date, ActiveOrganizations: d.Active, PeakActiveOrganizations: d.Peak}
	}
	return out
}
