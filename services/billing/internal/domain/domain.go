// Package domain is the billing service's model: subscriptions and their states, the plan rules
// (which states may add organizations, how long a trial lasts, license arithmetic and its
// refusals), license intents (a change decided here and not yet confirmed by the org service),
// usage and its history. It is pure Go: no database, no protos, no context.
package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Clock tells the time; tests and the dev stack inject one to move days forward.
type Clock func() time.Time

// Permissions a caller needs, in the org service's role model (the "subscription" area).
const (
	PermRead  = "subscription:read"
	PermWrite = "subscription:write"
)

// Sentinel errors.
var (
	// ErrNoSubscription is returned for an account billing has not set up (yet).
	ErrNoSubscription = apperr.NotFound("subscription not found")
	// ErrChangeInProgress refuses a license change while the previous one for the account is
	// not yet confirmed by the org service.
	ErrChangeInProgress = &apperr.Error{Kind: apperr.KindConflict, Reason: "LICENSE_CHANGE_IN_PROGRESS",
		Message: "another license change for this account is in progress; retry"}
	// ErrChangeRefused answers a request whose change the org service refused while the request
	// itself was still waiting for org's answer (another attempt at the same change heard it).
	ErrChangeRefused = apperr.FailedPrecondition("the org service refused this license change; read the subscription and try again")
	// ErrOrgUnreachable marks a call to the org service that failed without an answer
	// (unreachable, deadline exceeded, canceled): it may or may not have been applied, and
	// trying again may succeed. The org client adapter wraps such failures in it.
	ErrOrgUnreachable = apperr.Unavailable("the org service did not answer")
	// ErrChangePending is what a caller gets when its license change met ErrOrgUnreachable: the
	// change is kept and the intent worker applies it once org answers.
	ErrChangePending = apperr.Unavailable("the org service did not answer; the license change is pending and will be applied when it does")
)
