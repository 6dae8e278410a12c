package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/pbconv"
)

func (g *integrations) ListOrganizationSyncs(ctx context.Context, req *integrationsyncv1.ListOrganizationSyncsRequest) (*integrationsyncv1.ListOrganizationSyncsResponse, error) {
	list, next, err := g.svc.ListOrganizationSyncs(ctx, req.GetAccountId(), req.GetOrganizationId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListOrganizationSyncsResponse{NextPageToken: next, Syncs: make([]*integrationsyncv1.OrganizationSync, 0, len(list))}
	for _, o := range list {
		out.Syncs = append(out.Syncs, &integrationsyncv1.OrganizationSync{OrganizationId: o.OrganizationID,
			IntegrationId: o.IntegrationID, IntegrationKind: o.IntegrationKind, ExternalId: o.ExternalID,
			State: integrationsyncv1.OrganizationSyncState(o.State), Reason: o.Reason,
			LastSyncTime: ts(o.LastSync, timestamppb.New(o.LastSync)), LastResult: o.LastResult, BlocksDeletion: o.BlocksDeletion})
	}
	return out, nil
}

func (g *integrations) ListSyncLog(ctx context.Context, req *integrationsyncv1.ListSyncLogRequest) (*integrationsyncv1.ListSyncLogResponse, error) {
	list, next, err := g.svc.ListSyncLog(ctx, app.SyncLogQuery{AccountID: req.GetAccountId(), IntegrationID: req.GetIntegrationId(),
		OrganizationID: req.GetOrganizationId(), Action: req.GetAction(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListSyncLogResponse{NextPageToken: next, Entries: make([]*integrationsyncv1.SyncLogEntry, 0, len(list))}
	for _, e := range list {
		out.Entries = append(out.Entries, pbconv.SyncLogEntry(e))
	}
	return out, nil
}

func (g *integrations) ResolveOrphans(ctx context.Context, req *integrationsyncv1.ResolveOrphansRequest) (*integrationsyncv1.ResolveOrphansResponse, error) {
	refs := make([]app.OrphanRef, 0, len(req.GetOrphans()))
	for _, r := range req.GetOrphans() {
		refs = append(refs, app.OrphanRef{IntegrationID: r.GetIntegrationId(), ExternalID: r.GetExternalId()})
	}
	results, err := g.svc.ResolveOrphans(ctx, req.GetAccountId(), app.OrphanAction(req.GetAction()), refs)
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ResolveOrphansResponse{Results: make([]*integrationsyncv1.OrphanResult, 0, len(results))}
	for _, r := range results {
		out.Results = append(out.Results, &integrationsyncv1.OrphanResult{IntegrationId: r.IntegrationID, ExternalId: r.ExternalID,
			Ok: r.OK, ErrorReason: r.ErrorReason, ErrorMessage: r.ErrorMessage, DeletedOrganizationIds: r.DeletedOrganizationIDs})
	}
	return out, nil
}

func (g *integrations) DisconnectIntegration(ctx context.Context, req *integrationsyncv1.DisconnectIntegrationRequest) (*integrationsyncv1.Operation, error) {
	op, err := g.svc.DisconnectIntegration(ctx, req.GetAccountId(), req.GetIntegrationId(), app.DisconnectMode(req.GetMode()))
	if err != nil {
		return nil, err
	}
	return pbconv.Operation(op), nil
}

func (g *integrations) ResumeIntegration(ctx context.Context, req *integrationsyncv1.ResumeIntegrationRequest) (*integrationsyncv1.Integration, error) {
	v, err := g.svc.ResumeIntegration(ctx, req.GetAccountId(), req.GetIntegrationId())
	if err != nil {
		return nil, err
	}
	return integrationProto(v), nil
}
