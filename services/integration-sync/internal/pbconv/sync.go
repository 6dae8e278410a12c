package pbconv

import (
	"strconv"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// SyncLogEntry is a sync log entry's proto.
func SyncLogEntry(e domain.SyncLogEntry) *integrationsyncv1.SyncLogEntry {
	return &integrationsyncv1.SyncLogEntry{
		Id: strconv.FormatInt(e.ID, 10), Time: ts(e.At), Side: integrationsyncv1.SyncSide(e.Side), Action: e.Action,
		OrganizationId: e.OrganizationID, ExternalId: e.ExternalID, Fields: e.Fields, Message: e.Message,
	}
}
