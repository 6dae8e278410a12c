package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// OperationState is where an operation is (values as in the API).
type OperationState int16

// Operation states.
const (
	OpRunning   OperationState = 1
	OpSucceeded OperationState = 2
	OpFailed    OperationState = 3
	OpCancelled OperationState = 4
)

// RefreshMode says how much a refresh reads (values as in the API).
type RefreshMode int16

// Refresh modes.
const (
	ModeAuto        RefreshMode = 0
	ModeIncremental RefreshMode = 1
	ModeFull        RefreshMode = 2
)

// Operation types (values as in the API).
const (
	OpRefresh = "refresh"
	// OpDisconnect is a DisconnectIntegration: done at once when it pauses; when it deletes the
	// data, a long-running deletion of the organizations the sync created.
	OpDisconnect = "disconnect"
)

// Operation error reasons.
const (
	ReasonCredentialsRejected = "CREDENTIALS_REJECTED"
	ReasonVendorUnavailable   = "VENDOR_UNAVAILABLE"
	ReasonVendorRefused       = "VENDOR_REFUSED"
	// ReasonOrganizationsNotDeleted: a disconnect that deletes the data went through every
	// organization the sync created and the org service refused some; the integration stays,
	// paused, with those still linked.
	ReasonOrganizationsNotDeleted = "ORGANIZATIONS_NOT_DELETED"
	// ReasonOrgUnavailable: the org service did not answer a disconnect's deletions, MaxAttempts
	// times in a row.
	ReasonOrgUnavailable = "ORGANIZATIONS_UNAVAILABLE"
)

// Progress is how far a refresh is; Result what it changed.
type Progress struct {
	PagesDone, PagesTotal, ItemsDone, ItemsTotal int
}

// Result counts a refresh's changes.
type Result struct {
	Created, Changed, Orphaned, Unchanged int
}

// Add counts one change.
func (r *Result) Add(c Change) {
	switch c {
	case Created:
		r.Created++
	case Changed:
		r.Changed++
	case Orphaned:
		r.Orphaned++
	default:
		r.Unchanged++
	}
}

// Operation is a refresh of one integration, or a disconnect of it: a durable job that resumes
// from Cursor, its checkpoint, after a crash.
type Operation struct {
	ID, AccountID, IntegrationID string
	// Type is OpRefresh or OpDisconnect.
	Type  string
	Mode  RefreshMode
	State OperationState
	// Cursor is the connector's cursor of the next page to read ("" before the first); for a
	// disconnect, the last company whose organization it dealt with.
	Cursor string
	// Since is the lower bound of an incremental refresh.
	Since           time.Time
	Progress        Progress
	Result          Result
	ErrorReason     string
	ErrorMessage    string
	CreatedBy       string
	CancelRequested bool
	Attempts        int
	Created         time.Time
	Updated         time.Time
	Ended           time.Time
}

// IncrementalSkew widens an incremental refresh's window backwards: a change stamped by the
// tool just before the previous refresh started, but committed after its listing passed, is
// read again rather than missed.
const IncrementalSkew = 2 * time.Minute

// ChooseMode decides how much a refresh reads: what was asked, except that an incremental
// refresh needs a tool that filters by change time and a previous successful refresh to start
// from; it returns the mode and, for incremental, its lower bound.
func ChooseMode(asked RefreshMode, incrementalSupported bool, lastFull, lastStarted time.Time) (RefreshMode, time.Time) {
	if asked == ModeFull || !incrementalSupported || lastFull.IsZero() || lastStarted.IsZero() {
		return ModeFull, time.Time{}
	}
	return ModeIncremental, lastStarted.Add(-IncrementalSkew)
}

// RetryDelay is how long a refresh whose tool is unavailable waits before its next attempt:
// capped exponential, the transport having already retried the call itself.
func RetryDelay(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempts && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// MaxAttempts is how many times a refresh meets an unavailable tool before it fails.
const MaxAttempts = 8

// ErrDeletingData refuses to resume (or refresh) an integration whose disconnect is deleting
// the organizations its sync created: syncing again would race the deletions.
var ErrDeletingData = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "DISCONNECT_RUNNING",
	Message: "the integration is being disconnected and its organizations deleted"}
