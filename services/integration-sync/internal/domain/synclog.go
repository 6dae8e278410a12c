package domain

import "time"

// SyncLogEntry is one thing the PSA sync did or failed to do, kept per integration.
type SyncLogEntry struct {
	ID            int64
	AccountID     string
	IntegrationID string
	At            time.Time
	Side          Side
	// Action: created, updated, deactivated, reactivated, linked, conflict, error, waiting.
	Action         string
	OrganizationID string
	ExternalID     string
	Fields         []string
	Message        string
}

// Sync log actions.
const (
	LogCreated  = "created"
	LogUpdated  = "updated"
	LogLinked   = "linked"
	LogConflict = "conflict"
	LogError    = "error"
	LogWaiting  = "waiting"
)
