package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	"github.com/orgplane/orgplane/services/mapping/internal/app"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/pbconv"
)

func (m *mapping) GetMappingGrid(ctx context.Context, req *mappingv1.GetMappingGridRequest) (*mappingv1.MappingGrid, error) {
	p, err := m.svc.Grid(ctx, app.GridRequest{AccountID: req.GetAccountId(), Query: req.GetQuery(), Filter: domain.GridFilter(req.GetFilter()),
		IntegrationID: req.GetIntegrationId(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := &mappingv1.MappingGrid{NextPageToken: p.Next, TotalSize: p.Total, Licenses: pbconv.Licenses(p.Licenses),
		Rows: make([]*mappingv1.GridRow, 0, len(p.Rows))}
	for _, r := range p.Rows {
		out.Rows = append(out.Rows, pbconv.Row(r))
	}
	for _, in := range p.Integrations {
		g := &mappingv1.GridIntegration{Id: in.ID, Kind: in.Kind, DisplayName: in.DisplayName, Refreshing: in.Refreshing}
		if !in.LastRefresh.IsZero() {
			g.LastRefreshTime = timestamppb.New(in.LastRefresh)
		}
		out.Integrations = append(out.Integrations, g)
	}
	return out, nil
}

func (m *mapping) SaveMappings(ctx context.Context, req *mappingv1.SaveMappingsRequest) (*mappingv1.SaveMappingsResponse, error) {
	changes := make([]domain.Change, len(req.GetChanges()))
	for i, c := range req.GetChanges() {
		changes[i] = domain.Change{OrganizationID: c.GetOrganizationId(), Version: c.GetVersion(), IntegrationID: c.GetIntegrationId(),
			ExternalID: c.GetExternalOrganizationId()}
	}
	rows, err := m.svc.SaveMappings(ctx, req.GetAccountId(), changes)
	if err != nil {
		return nil, err
	}
	out := &mappingv1.SaveMappingsResponse{Rows: make([]*mappingv1.GridRow, 0, len(rows))}
	for _, r := range rows {
		out.Rows = append(out.Rows, pbconv.Row(r))
	}
	return out, nil
}

func (m *mapping) ListMatchSuggestions(ctx context.Context, req *mappingv1.ListMatchSuggestionsRequest) (*mappingv1.ListMatchSuggestionsResponse, error) {
	list, next, err := m.svc.Suggestions(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetOrganizationIds(), int(req.GetPerOrganization()),
		req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &mappingv1.ListMatchSuggestionsResponse{NextPageToken: next, Suggestions: make([]*mappingv1.MatchSuggestion, 0, len(list))}
	for _, s := range list {
		out.Suggestions = append(out.Suggestions, &mappingv1.MatchSuggestion{OrganizationId: s.OrganizationID, OrganizationName: s.OrganizationName,
			ExternalOrganizationId: s.ExternalID, ExternalName: s.ExternalName, Score: s.Score, Reason: s.Reason})
	}
	return out, nil
}

func (m *mapping) ListImportCandidates(ctx context.Context, req *mappingv1.ListImportCandidatesRequest) (*mappingv1.ListImportCandidatesResponse, error) {
	list, next, total, lic, err := m.svc.Candidates(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetQuery(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &mappingv1.ListImportCandidatesResponse{NextPageToken: next, TotalSize: total, Licenses: pbconv.Licenses(lic),
		Candidates: make([]*mappingv1.ImportCandidate, 0, len(list))}
	for _, e := range list {
		out.Candidates = append(out.Candidates, &mappingv1.ImportCandidate{ExternalOrganizationId: e.ExternalID, Name: e.Name, ParentExternalId: e.ParentID})
	}
	return out, nil
}

func (m *mapping) ImportOrganizations(ctx context.Context, req *mappingv1.ImportOrganizationsRequest) (*mappingv1.ImportOperation, error) {
	im, err := m.svc.StartImport(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetRequestId(), req.GetExternalOrganizationIds())
	if err != nil {
		return nil, err
	}
	return importProto(im), nil
}

func (m *mapping) GetImport(ctx context.Context, req *mappingv1.GetImportRequest) (*mappingv1.ImportOperation, error) {
	im, err := m.svc.GetImport(ctx, req.GetAccountId(), req.GetImportId())
	if err != nil {
		return nil, err
	}
	return importProto(im), nil
}

func (m *mapping) ListImportItems(ctx context.Context, req *mappingv1.ListImportItemsRequest) (*mappingv1.ListImportItemsResponse, error) {
	items, next, err := m.svc.ListImportItems(ctx, req.GetAccountId(), req.GetImportId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &mappingv1.ListImportItemsResponse{NextPageToken: next, Items: make([]*mappingv1.ImportItem, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, &mappingv1.ImportItem{ExternalOrganizationId: it.ExternalID, Name: it.Name,
			Outcome: mappingv1.ImportOutcome(it.Outcome), OrganizationId: it.OrganizationID, Reason: it.Reason})
	}
	return out, nil
}

func importProto(im domain.Import) *mappingv1.ImportOperation {
	p := &mappingv1.ImportOperation{Id: im.ID, IntegrationId: im.IntegrationID, RequestId: im.RequestID,
		State: mappingv1.ImportState(im.State), ItemsDone: int32(im.Done), ItemsTotal: int32(im.Total),
		Counts: &mappingv1.ImportCounts{Created: int32(im.Created), Linked: int32(im.Linked), Relinked: int32(im.Relinked), Failed: int32(im.Failed)},
		Error:  im.Error, CreatedBy: im.CreatedBy, CreateTime: timestamppb.New(im.Started)}
	if !im.Ended.IsZero() {
		p.EndTime = timestamppb.New(im.Ended)
	}
	return p
}
