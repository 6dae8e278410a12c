// Package pbconv turns integration-sync's domain values into their protos, for the API and for
// events alike (one mapping, so an event says what the API says).
package pbconv

import (
	"cmp"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Operation is an operation's proto.
func Operation(o domain.Operation) *integrationsyncv1.Operation {
	p := &integrationsyncv1.Operation{
		Id: o.ID, IntegrationId: o.IntegrationID, Type: cmp.Or(o.Type, domain.OpRefresh), Mode: integrationsyncv1.RefreshMode(o.Mode),
		State: integrationsyncv1.OperationState(o.State),
		Progress: &integrationsyncv1.RefreshProgress{PagesDone: int32(o.Progress.PagesDone), PagesTotal: int32(o.Progress.PagesTotal),
			ItemsDone: int32(o.Progress.ItemsDone), ItemsTotal: int32(o.Progress.ItemsTotal)},
		Result: &integrationsyncv1.RefreshResult{Created: int32(o.Result.Created), Changed: int32(o.Result.Changed),
			Orphaned: int32(o.Result.Orphaned), Unchanged: int32(o.Result.Unchanged)},
		CreatedBy: o.CreatedBy, CancelRequested: o.CancelRequested,
		CreateTime: ts(o.Created), UpdateTime: ts(o.Updated), EndTime: ts(o.Ended),
	}
	if o.State == domain.OpFailed {
		p.Error = &integrationsyncv1.OperationError{Reason: o.ErrorReason, Message: o.ErrorMessage}
	}
	return p
}

// External is a cached external organization's proto.
func External(e domain.ExternalOrganization) *integrationsyncv1.ExternalOrganization {
	return &integrationsyncv1.ExternalOrganization{
		IntegrationId: e.IntegrationID, IntegrationKind: e.IntegrationKind, ExternalId: e.ExternalID, Name: e.Name,
		TypeId: e.TypeID, TypeName: e.TypeName, StatusId: e.StatusID, StatusName: e.StatusName, ParentExternalId: e.ParentID,
		Active: e.Active, Deleted: e.Deleted, VendorUpdateTime: ts(e.VendorUpdated), LastSeenTime: ts(e.LastSeen),
		State: integrationsyncv1.ExternalOrganizationState(e.State), StateReason: e.StateReason, StateTime: ts(e.StateAt),
		StateChangedBy: e.StateBy, OrganizationId: e.OrganizationID,
	}
}
