package domain

import (
	"fmt"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// LicenseLimit is the limit the billing service asks org to enforce for an account.
type LicenseLimit struct {
	// Unlimited means no limit; Limit is then ignored.
	Unlimited bool
	Limit     int32
	// Writable says whether organizations may become active at all (false while the
	// subscription is canceled or past due).
	Writable bool
	// Generation is billing's sequence number of the change for the account. Billing applies
	// a change after committing its intent and retries it until it hears back, so the same
	// change can arrive twice or after a later one; the generation lets org tell. 0 applies the
	// change unconditionally.
	Generation int64
}

// LicenseUsage is the limit as enforced, the generation it came with and the exact number of
// active organizations.
type LicenseUsage struct {
	LicenseLimit
	Used int32
}

// LimitBelowUse refuses a limit that is lower than the organizations already active: org never
// deactivates anything on its own, the account has to.
func LimitBelowUse(used int32) error {
	return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "LIMIT_BELOW_USE",
		Message: fmt.Sprintf("%d organizations are active; the limit cannot go below that (deactivate some first)", used)}
}

// ApplyLimit decides what becomes of the enforced limit current when billing asks for want. It
// returns the usage to store and answer with, and whether anything is to be written. A request
// of a generation already applied (a retry, or a delivery overtaken by a later change) changes
// nothing and answers with the usage as it stands, so it can never undo a later change.
func ApplyLimit(current LicenseUsage, want LicenseLimit) (LicenseUsage, bool, error) {
	if want.Generation > 0 && want.Generation <= current.Generation {
		return current, false, nil
	}
	if !want.Unlimited && want.Limit < current.Used {
		return current, false, LimitBelowUse(current.Used)
	}
	next := LicenseUsage{LicenseLimit: want, Used: current.Used}
	if want.Unlimited {
		next.Limit = 0
	}
	// Generation 0 is an unconditional change; it must not rewind the sequence billing keeps.
	next.Generation = max(current.Generation, want.Generation)
	return next, true, nil
}
