package domain

import "time"

// OrgLimit is a limit as the org service enforces it, with the generation of the change that
// set it (0: not part of billing's sequence).
type OrgLimit struct {
	Unlimited  bool
	Limit      int32
	Writable   bool
	Generation int64
}

// IntentKind says what a license intent changes, for the record.
type IntentKind string

const (
	IntentTrial          IntentKind = "trial"
	IntentAddLicenses    IntentKind = "add_licenses"
	IntentRemoveLicenses IntentKind = "remove_licenses"
	IntentUpdate         IntentKind = "update"
)

// IntentStatus is where an intent stands: pending until the org service answers, then applied
// (recorded here too) or rejected (org refused it; nothing changed anywhere).
type IntentStatus string

const (
	IntentPending  IntentStatus = "pending"
	IntentApplied  IntentStatus = "applied"
	IntentRejected IntentStatus = "rejected"
)

// LicenseIntent is a subscription change billing has decided and committed but the org service
// has not yet confirmed. It is applied after the commit, outside any transaction, and recorded
// (subscription, license change, event) only once org has applied it.
type LicenseIntent struct {
	AccountID string
	// Generation orders the account's changes: one more than the last intent's. The org service
	// ignores a generation it has already applied, so retrying an intent is always safe.
	Generation int64
	Kind       IntentKind
	Status     IntentStatus
	// Desired is the subscription once the change is applied.
	Desired Subscription
	// Delta is the number of licenses added (or, negative, removed), for the history.
	Delta int32
	// ChangedBy names who asked for it (identity.Identity.Actor).
	ChangedBy string
}

// OrgLimit is what the org service is asked to enforce for the intent.
func (i LicenseIntent) OrgLimit() OrgLimit {
	l := i.Desired.OrgLimit()
	l.Generation = i.Generation
	return l
}

// NextIntent decides the account's next license intent. An account has at most one pending
// intent: a second change waits for the first to be confirmed, so changes reach the org service
// in the order they were decided. lastGeneration is the highest generation the account has used.
func NextIntent(pending bool, lastGeneration int64, kind IntentKind, desired Subscription, delta int32, changedBy string) (LicenseIntent, error) {
	if pending {
		return LicenseIntent{}, ErrChangeInProgress
	}
	return LicenseIntent{AccountID: desired.AccountID, Generation: lastGeneration + 1, Kind: kind, Status: IntentPending,
		Desired: desired, Delta: delta, ChangedBy: changedBy}, nil
}

// Backoff spaces out the retries of an intent the org service did not answer.
type Backoff struct {
	// Base is the wait after the first failed attempt; each further failure doubles it.
	Base time.Duration
	// Max caps the wait.
	Max time.Duration
}

// Delay is how long to wait after the attempt-th failed attempt (from 1).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}
