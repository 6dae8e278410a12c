package domain

import (
	"math"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// State is where a subscription stands. The numbers are stored and equal the API's
// SubscriptionState values, so they never change.
type State int16

const (
	StateUnspecified State = 0
	StateTrialing    State = 1
	StateActive      State = 2
	StatePastDue     State = 3
	StateCanceled    State = 4
)

// Writable says whether an account in this state may add organizations (create, import,
// reactivate). A past-due or canceled account keeps reading them.
func (s State) Writable() bool { return s == StateTrialing || s == StateActive }

// checkWritable refuses a tenant's change to a subscription that is not writable: the account is
// read-only (org refuses every change of its members too) until a platform operator reactivates
// it. 403 naming the state, checked before anything else about the change.
func (s State) checkWritable() error {
	if s.Writable() {
		return nil
	}
	name := map[State]string{StatePastDue: "past due", StateCanceled: "canceled"}[s]
	if name == "" {
		name = "not active"
	}
	return &apperr.Error{Kind: apperr.KindPermissionDenied, Reason: "SUBSCRIPTION_INACTIVE",
		Message: "the subscription is " + name + ": the account is read-only until the subscription is reactivated"}
}

// Subscription is an account's plan: its licenses (the limit of active organizations), its
// state and its current period.
type Subscription struct {
	AccountID   string
	PlanName    string
	Unlimited   bool
	Limit       int32
	State       State
	PeriodStart time.Time
	PeriodEnd   time.Time
	Updated     time.Time
}

// TrialTerms are what a new account's trial allows.
type TrialTerms struct {
	// Limit is how many organizations may be active.
	Limit int32
	// Days is how long the trial period lasts.
	Days int
}

// TrialPlanName names the plan every account starts on.
const TrialPlanName = "Trial"

// NewTrial is the subscription an account starts with when it is created.
func NewTrial(accountID string, terms TrialTerms, now time.Time) Subscription {
	return Subscription{AccountID: accountID, PlanName: TrialPlanName, Limit: terms.Limit, State: StateTrialing,
		PeriodStart: now, PeriodEnd: now.AddDate(0, 0, terms.Days), Updated: now}
}

// OrgLimit is what the org service is to enforce for s.
func (s Subscription) OrgLimit() OrgLimit {
	return OrgLimit{Unlimited: s.Unlimited, Limit: s.Limit, Writable: s.State.Writable()}
}

// AddLicenses raises the limit by n.
func (s Subscription) AddLicenses(n int32) (Subscription, error) {
	if err := s.State.checkWritable(); err != nil {
		return s, err
	}
	if s.Unlimited {
		return s, apperr.FailedPrecondition("the plan is unlimited; there are no licenses to add")
	}
	if n > math.MaxInt32-s.Limit {
		return s, apperr.Invalidf("count", "the limit cannot exceed %d licenses", int32(math.MaxInt32))
	}
	s.Limit += n
	return s, nil
}

// RemoveLicenses lowers the limit by n. Whether the organizations already active still fit is
// for the org service to say, where they are counted.
func (s Subscription) RemoveLicenses(n int32) (Subscription, error) {
	if err := s.State.checkWritable(); err != nil {
		return s, err
	}
	if s.Unlimited {
		return s, apperr.FailedPrecondition("the plan is unlimited; there are no licenses to remove")
	}
	if n > s.Limit {
		return s, apperr.Invalidf("count", "there are only %d licenses", s.Limit)
	}
	s.Limit -= n
	return s, nil
}

// UpdatableFields are the fields a platform operator may change with Update, by proto name.
var UpdatableFields = []string{"plan_name", "unlimited", "state", "current_period_start", "current_period_end"}

// Update copies the fields named in fields (from UpdatableFields) from in. A state must be
// given when it is named.
func (s Subscription) Update(in Subscription, fields []string) (Subscription, error) {
	for _, f := range fields {
		switch f {
		case "plan_name":
			s.PlanName = in.PlanName
		case "unlimited":
			s.Unlimited = in.Unlimited
		case "state":
			if in.State == StateUnspecified {
				return s, apperr.Invalid("subscription.state", "is required")
			}
			s.State = in.State
		case "current_period_start":
			s.PeriodStart = in.PeriodStart
		case "current_period_end":
			s.PeriodEnd = in.PeriodEnd
		default:
			return s, apperr.Invalidf("update_mask", "%q cannot be changed", f)
		}
	}
	return s, nil
}
