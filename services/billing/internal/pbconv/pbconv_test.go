package pbconv_test

import (
	"testing"

	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/pbconv"
)

// Issue 12: an unlimited plan reported organizationLimit 200010 (the stored limit) where the
// docs say 0. Both the subscription and the usage box say 0 and unlimited.
func TestUnlimitedPlanShowsLimitZero(t *testing.T) {
	t.Parallel()
	sub := pbconv.Subscription(domain.Subscription{AccountID: "a", PlanName: "Partner", Unlimited: true, Limit: 200010})
	if sub.GetOrganizationLimit() != 0 || !sub.GetUnlimited() {
		t.Errorf("subscription: limit %d unlimited %v, want 0 and true", sub.GetOrganizationLimit(), sub.GetUnlimited())
	}
	u := pbconv.LicenseUsage(domain.Usage{OrgLimit: domain.OrgLimit{Unlimited: true, Limit: 200010, Writable: true}, Used: 7})
	if u.GetOrganizationLimit() != 0 || !u.GetUnlimited() || u.GetRemaining() != 0 || u.GetUsed() != 7 {
		t.Errorf("usage = %v, want limit 0, unlimited, used 7, remaining 0", u)
	}
	limited := pbconv.Subscription(domain.Subscription{AccountID: "a", PlanName: "Trial", Limit: 25})
	if limited.GetOrganizationLimit() != 25 || limited.GetUnlimited() {
		t.Errorf("a limited plan: %v", limited)
	}
}
