package domain

import (
	"fmt"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// ErrSubscriptionInactive refuses new active organizations while the subscription is canceled or
// past due: the account is read-only for organizations.
var ErrSubscriptionInactive = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SUBSCRIPTION_INACTIVE",
	Message: "the subscription does not allow creating, importing or reactivating organizations"}

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

// Refusal explains why more active organizations do not fit: an inactive subscription, else the
// limit, with the numbers the caller needs to decide what to deactivate.
func (c LicenseCount) Refusal() error {
	if !c.Writable {
		return ErrSubscriptionInactive
	}
	limit := c.Limit
	if c.Unlimited {
		limit = 0
	}
	return &apperr.Error{Kind: apperr.KindResourceExhausted, Reason: "LICENSE_LIMIT", QuotaSubject: "organization licenses",
		Message: fmt.Sprintf("license limit reached: %d of %d licenses in use, %d remaining", c.Used, limit, LicensesRemaining(limit, c.Used))}
}
