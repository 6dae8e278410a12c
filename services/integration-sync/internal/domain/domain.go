// Package domain is integration-sync's model: integrations and their credentials' rules, the
// cached external organizations and their sync states, refresh operations and how a page of a
// tool's listing reconciles with the cache. Pure Go: no database, no protos, no HTTP.
package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/accountstate"
	"github.com/orgplane/orgplane/pkg/apperr"
)

// Permissions a caller needs, in the org service's role model (the "integrations" area).
const (
	PermRead  = "integrations:read"
	PermWrite = "integrations:write"
)

// Sentinel errors.
var (
	ErrIntegrationNotFound = apperr.NotFound("integration not found")
	ErrOperationNotFound   = apperr.NotFound("operation not found")
	// ErrKindTaken: an account has one integration of each kind (what MSPs have); the model
	// keeps ids per integration so a second could be allowed later.
	ErrKindTaken = &apperr.Error{Kind: apperr.KindConflict, Reason: "INTEGRATION_KIND_TAKEN",
		Message: "the account already has an integration of this kind"}
	// ErrCredentialsRejected refuses work on an integration whose tool refused its credentials,
	// until they are updated.
	ErrCredentialsRejected = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "CREDENTIALS_REJECTED",
		Message: "the tool refused this integration's credentials; update them and test the connection"}
	// ErrOperationEnded: a finished operation cannot be cancelled.
	ErrOperationEnded = apperr.FailedPrecondition("the operation has already ended")
	// ErrSubscriptionInactive refuses a member's change while the account's subscription is
	// canceled or past due (the org service's answer): the account is read-only.
	ErrSubscriptionInactive = accountstate.ErrInactive
	// ErrBadSignature answers a webhook delivery that does not verify (the gateway answers 401).
	ErrBadSignature = apperr.Unauthenticated("webhook signature does not verify")
)

// IntegrationState says whether an integration can talk to its tool (values as in the API).
type IntegrationState int16

// Integration states.
const (
	StateUntested            IntegrationState = 1
	StateConnected           IntegrationState = 2
	StateCredentialsRejected IntegrationState = 3
)

// BudgetPolicy overrides a kind's documented limit; zero Requests means the kind's.
type BudgetPolicy struct {
	Requests    int
	Window      time.Duration
	Concurrency int
}

// Integration is an account's connection to one tool. Credentials are not here: they are
// sealed in the store and opened only to build a connector.
type Integration struct {
	ID, AccountID      string
	Kind               string
	DisplayName        string
	Settings           map[string]string
	Endpoint           string
	State              IntegrationState
	StateMessage       string
	Budget             BudgetPolicy
	LastRefresh        time.Time
	LastFullRefresh    time.Time
	LastRefreshStarted time.Time // the start of the last successful refresh: the next incremental's lower bound
	RunningOperationID string
	ExternalCount      int
	OrphanCount        int
	Credentials        []CredentialStatus
	Sync               SyncSettings
	// Paused by a disconnect: nothing refreshes or syncs.
	Paused           bool
	CreatedBy        string
	Created, Updated time.Time
}

// CredentialStatus says whether a credential is set and when it changed.
type CredentialStatus struct {
	Name    string
	Set     bool
	Updated time.Time
}

// ExternalState is the sync state of a cached external organization (values as in the API).
type ExternalState int16

// External organization states.
const (
	ExternalSyncing      ExternalState = 1
	ExternalOrphaned     ExternalState = 2
	ExternalSyncDisabled ExternalState = 3
	ExternalSyncError    ExternalState = 4
)

// ExternalOrganization is the cached copy of one organization of a tool.
type ExternalOrganization struct {
	AccountID, IntegrationID string
	IntegrationKind          string
	ExternalID               string
	Name                     string
	TypeID, TypeName         string
	StatusID, StatusName     string
	ParentID                 string
	Active, Deleted          bool
	VendorUpdated            time.Time
	LastSeen                 time.Time
	State                    ExternalState
	StateReason              string
	StateAt                  time.Time
	StateBy                  string
	// OrganizationID is the linked Orgplane organization (mapping's, or the sync's request).
	OrganizationID string
	// CreatedBySync: the sync created the organization from this company.
	CreatedBySync  bool
	Base           *Base
	LastSync       time.Time
	LastSyncResult string
	// Dismissed is when an orphan was taken off the orphans list (zero: listed).
	Dismissed time.Time
}
