// Package domain is the mapping service's model: links between an Orgplane organization and its
// twin in an integrated tool, and the rules that govern them. Pure Go, no database, no protos.
package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Method says how a link was made. The numbers are stored, so they never change.
type Method int16

const (
	MethodUnspecified Method = 0
	MethodManual      Method = 1 // matched by hand in the Setup Organizations grid
	MethodImport      Method = 2 // made by "Add from IT Glue"
	MethodSync        Method = 3 // made by two-way sync
)

// Link ties an Orgplane organization to one external organization of one integration. An
// organization has at most one link per integration, and an external organization at most one
// link (the store's unique constraints hold both).
type Link struct {
	ID                     string
	AccountID              string
	OrganizationID         string
	IntegrationID          string
	ExternalOrganizationID string
	ExternalName           string
	Method                 Method
	CreatedBy              string
	Created                time.Time
}

// Permission areas the mapping service checks (the org service's role model defines them).
const (
	PermRead  = "mappings:read"
	PermWrite = "mappings:write"
)

// Sentinel errors.
var (
	ErrOrganizationNotFound = apperr.NotFound("organization not found")
)
