package domain

import (
	"fmt"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// ErrSubscriptionInactive refuses every change by an account's members while its subscription is
// canceled or past due (org's account_limits.writable, set by billing): the account is read-only
// until billing reactivates the subscription. 403: the caller may not do it now, whatever its
// role; not a 400 (nothing in the request is wrong) nor a 429 (no retry helps).
var ErrSubscriptionInactive = &apperr.Error{Kind: apperr.KindPermissionDenied, Reason: "SUBSCRIPTION_INACTIVE",
	Message: "the account's subscription is canceled or past due: the account is read-only until the subscription is reactivated"}

// LicenseCount is the account's license row as it stands: the limit active organizations are
// held to and how many are active.
type LicenseCount struct {
	Limit     int
	Unlimited bool
	Writable  bool
	Used      int
}

// LicensesRemaining is how many more organizations may become active; never negative, even when
// the limit was lowered below the current use.
func LicensesRemaining(limit, used int) int { return max(limit-used, 0) }

// Fits reports whether n more active organizations fit.
func (c LicenseCount) Fits(n int) bool {
	return c.Writable && (c.Unlimited || c.Used+n <= c.Limit)
}

// Refusal explains why n more active organizations do not fit: an inactive subscription, else
// the limit, with the numbers the caller needs to decide what to deactivate. A limit is
// FailedPrecondition (HTTP 400), not ResourceExhausted: generic HTTP clients retry a 429 on
// their own, and no retry frees a license; 429 is the rate limit's alone.
func (c LicenseCount) Refusal(n int) error {
	if !c.Writable {
		return ErrSubscriptionInactive
	}
	limit := c.Limit
	if c.Unlimited {
		limit = 0
	}
	msg := fmt.Sprintf("license limit reached: %d of %d licenses in use, %d remaining", c.Used, limit, LicensesRemaining(limit, c.Used))
	if n > 1 {
		msg += fmt.Sprintf(", %d requested", n)
	}
	return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "LICENSE_LIMIT", QuotaSubject: "organization licenses", Message: msg}
}
