// Package grpcapi is integration-sync's gRPC transport: requests to use cases, domain values to
// protos, nothing else.
package grpcapi

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/pbconv"
)

// Register registers the IntegrationService and WebhookService on s.
func Register(s grpc.ServiceRegistrar, svc *app.Service) {
	integrationsyncv1.RegisterIntegrationServiceServer(s, &integrations{svc: svc})
	integrationsyncv1.RegisterWebhookServiceServer(s, &webhooks{svc: svc})
	integrationsyncv1.RegisterIntegrationDirectoryServiceServer(s, &directory{svc: svc})
}

type directory struct {
	integrationsyncv1.UnimplementedIntegrationDirectoryServiceServer
	svc *app.Service
}

func (d *directory) ListIntegrationSummaries(ctx context.Context, req *integrationsyncv1.ListIntegrationSummariesRequest) (*integrationsyncv1.ListIntegrationSummariesResponse, error) {
	list, next, err := d.svc.IntegrationSummaries(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListIntegrationSummariesResponse{NextPageToken: next}
	for _, in := range list {
		out.Integrations = append(out.Integrations, &integrationsyncv1.IntegrationSummary{Id: in.ID, Kind: in.Kind,
			DisplayName: in.DisplayName, State: integrationsyncv1.IntegrationState(in.State),
			LastRefreshTime: ts(in.LastRefresh, timestamppb.New(in.LastRefresh)), Refreshing: in.RunningOperationID != ""})
	}
	return out, nil
}

type integrations struct {
	integrationsyncv1.UnimplementedIntegrationServiceServer
	svc *app.Service
}

func (g *integrations) ListIntegrationKinds(ctx context.Context, req *integrationsyncv1.ListIntegrationKindsRequest) (*integrationsyncv1.ListIntegrationKindsResponse, error) {
	kinds, next, err := g.svc.ListKinds(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListIntegrationKindsResponse{NextPageToken: next}
	for _, k := range kinds {
		pk := &integrationsyncv1.IntegrationKind{Name: k.Name, Title: k.Title, DefaultBudget: budgetProto(k.Budget), Psa: k.PSA,
			Incremental: k.Incremental}
		for _, f := range k.Fields {
			pk.Fields = append(pk.Fields, &integrationsyncv1.KindField{Name: f.Name, Description: f.Description, Required: f.Required, Secret: f.Secret})
		}
		out.Kinds = append(out.Kinds, pk)
	}
	return out, nil
}

func input(p *integrationsyncv1.Integration) app.IntegrationInput {
	in := app.IntegrationInput{Kind: p.GetKind(), DisplayName: p.GetDisplayName(), Settings: p.GetSettings(),
		Credentials: p.GetCredentials(), Endpoint: p.GetEndpoint()}
	if b := p.GetBudgetPolicy(); b != nil {
		in.Budget = domain.BudgetPolicy{Requests: int(b.GetRequests()), Window: b.GetWindow().AsDuration(), Concurrency: int(b.GetConcurrency())}
	}
	return in
}

func (g *integrations) CreateIntegration(ctx context.Context, req *integrationsyncv1.CreateIntegrationRequest) (*integrationsyncv1.Integration, error) {
	v, err := g.svc.CreateIntegration(ctx, req.GetAccountId(), input(req.GetIntegration()))
	if err != nil {
		return nil, err
	}
	return integrationProto(v), nil
}

func (g *integrations) GetIntegration(ctx context.Context, req *integrationsyncv1.GetIntegrationRequest) (*integrationsyncv1.Integration, error) {
	v, err := g.svc.GetIntegration(ctx, req.GetAccountId(), req.GetIntegrationId())
	if err != nil {
		return nil, err
	}
	return integrationProto(v), nil
}

func (g *integrations) ListIntegrations(ctx context.Context, req *integrationsyncv1.ListIntegrationsRequest) (*integrationsyncv1.ListIntegrationsResponse, error) {
	list, next, err := g.svc.ListIntegrations(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListIntegrationsResponse{NextPageToken: next, Integrations: make([]*integrationsyncv1.Integration, 0, len(list))}
	for _, v := range list {
		out.Integrations = append(out.Integrations, integrationProto(v))
	}
	return out, nil
}

func (g *integrations) UpdateIntegration(ctx context.Context, req *integrationsyncv1.UpdateIntegrationRequest) (*integrationsyncv1.Integration, error) {
	// Paths as a REST client writes them: the field in lowerCamelCase, a map key as is
	// ("credentials.apiKey").
	paths := make([]string, 0, len(req.GetUpdateMask().GetPaths()))
	for _, p := range req.GetUpdateMask().GetPaths() {
		field, key, hasKey := strings.Cut(p, ".")
		field = fieldmask.CamelCase(field)
		if hasKey {
			field += "." + key
		}
		paths = append(paths, field)
	}
	v, err := g.svc.UpdateIntegration(ctx, req.GetAccountId(), req.GetIntegration().GetId(), input(req.GetIntegration()), paths)
	if err != nil {
		return nil, err
	}
	return integrationProto(v), nil
}

func (g *integrations) DeleteIntegration(ctx context.Context, req *integrationsyncv1.DeleteIntegrationRequest) (*integrationsyncv1.DeleteIntegrationResponse, error) {
	if err := g.svc.DeleteIntegration(ctx, req.GetAccountId(), req.GetIntegrationId()); err != nil {
		return nil, err
	}
	return &integrationsyncv1.DeleteIntegrationResponse{}, nil
}

func (g *integrations) TestIntegration(ctx context.Context, req *integrationsyncv1.TestIntegrationRequest) (*integrationsyncv1.TestIntegrationResponse, error) {
	r, err := g.svc.TestIntegration(ctx, req.GetAccountId(), req.GetIntegrationId())
	if err != nil {
		return nil, err
	}
	return &integrationsyncv1.TestIntegrationResponse{Ok: r.OK, Message: r.Message, Integration: integrationProto(r.View)}, nil
}

func (g *integrations) RefreshIntegration(ctx context.Context, req *integrationsyncv1.RefreshIntegrationRequest) (*integrationsyncv1.Operation, error) {
	op, err := g.svc.RefreshIntegration(ctx, req.GetAccountId(), req.GetIntegrationId(), domain.RefreshMode(req.GetMode()))
	if err != nil {
		return nil, err
	}
	return pbconv.Operation(op), nil
}

func (g *integrations) GetOperation(ctx context.Context, req *integrationsyncv1.GetOperationRequest) (*integrationsyncv1.Operation, error) {
	op, err := g.svc.GetOperation(ctx, req.GetAccountId(), req.GetOperationId())
	if err != nil {
		return nil, err
	}
	return pbconv.Operation(op), nil
}

func (g *integrations) ListOperations(ctx context.Context, req *integrationsyncv1.ListOperationsRequest) (*integrationsyncv1.ListOperationsResponse, error) {
	ops, next, err := g.svc.ListOperations(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListOperationsResponse{NextPageToken: next, Operations: make([]*integrationsyncv1.Operation, 0, len(ops))}
	for _, o := range ops {
		out.Operations = append(out.Operations, pbconv.Operation(o))
	}
	return out, nil
}

func (g *integrations) CancelOperation(ctx context.Context, req *integrationsyncv1.CancelOperationRequest) (*integrationsyncv1.Operation, error) {
	op, err := g.svc.CancelOperation(ctx, req.GetAccountId(), req.GetOperationId())
	if err != nil {
		return nil, err
	}
	return pbconv.Operation(op), nil
}

func (g *integrations) ListExternalOrganizations(ctx context.Context, req *integrationsyncv1.ListExternalOrganizationsRequest) (*integrationsyncv1.ListExternalOrganizationsResponse, error) {
	list, next, total, err := g.svc.ListExternalOrganizations(ctx, app.ExternalQuery{AccountID: req.GetAccountId(),
		IntegrationID: req.GetIntegrationId(), Query: req.GetQuery(), State: domain.ExternalState(req.GetState()),
		PageSize: req.GetPageSize(), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListExternalOrganizationsResponse{NextPageToken: next, TotalSize: total,
		ExternalOrganizations: make([]*integrationsyncv1.ExternalOrganization, 0, len(list))}
	for _, e := range list {
		out.ExternalOrganizations = append(out.ExternalOrganizations, pbconv.External(e))
	}
	return out, nil
}

func (g *integrations) ListOrphans(ctx context.Context, req *integrationsyncv1.ListOrphansRequest) (*integrationsyncv1.ListOrphansResponse, error) {
	list, next, total, err := g.svc.ListOrphans(ctx, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &integrationsyncv1.ListOrphansResponse{NextPageToken: next, TotalSize: total,
		Orphans: make([]*integrationsyncv1.ExternalOrganization, 0, len(list))}
	for _, e := range list {
		out.Orphans = append(out.Orphans, pbconv.External(e))
	}
	return out, nil
}

func syncSettings(p *integrationsyncv1.SyncSettings) domain.SyncSettings {
	sc := p.GetScope()
	return domain.SyncSettings{Direction: domain.SyncDirection(p.GetDirection()), Scope: domain.SyncScope{
		PSATypeIDs: sc.GetPsaTypeIds(), PSAStatusIDs: sc.GetPsaStatusIds(),
		OrganizationTypeIDs: sc.GetOrganizationTypeIds(), OrganizationStatusIDs: sc.GetOrganizationStatusIds()},
		Mappings: domain.ValueMappings{Types: valueMappings(p.GetTypeMappings()), Statuses: valueMappings(p.GetStatusMappings())}}
}

func valueMappings(list []*integrationsyncv1.ValueMapping) []domain.ValueMapping {
	var out []domain.ValueMapping
	for _, m := range list {
		out = append(out, domain.ValueMapping{OrganizationValueID: m.GetOrganizationValueId(), PSAValueID: m.GetPsaValueId()})
	}
	return out
}

func valueMappingsProto(list []domain.ValueMapping) []*integrationsyncv1.ValueMapping {
	var out []*integrationsyncv1.ValueMapping
	for _, m := range list {
		out = append(out, &integrationsyncv1.ValueMapping{OrganizationValueId: m.OrganizationValueID, PsaValueId: m.PSAValueID})
	}
	return out
}

func syncSettingsProto(s domain.SyncSettings) *integrationsyncv1.SyncSettings {
	p := &integrationsyncv1.SyncSettings{Direction: integrationsyncv1.SyncDirection(s.Direction), Scope: &integrationsyncv1.SyncScope{
		PsaTypeIds: s.Scope.PSATypeIDs, PsaStatusIds: s.Scope.PSAStatusIDs,
		OrganizationTypeIds: s.Scope.OrganizationTypeIDs, OrganizationStatusIds: s.Scope.OrganizationStatusIDs},
		TypeMappings: valueMappingsProto(s.Mappings.Types), StatusMappings: valueMappingsProto(s.Mappings.Statuses)}
	if !s.Updated.IsZero() {
		p.UpdateTime = timestamppb.New(s.Updated)
	}
	return p
}

func (g *integrations) PreviewSyncSettings(ctx context.Context, req *integrationsyncv1.PreviewSyncSettingsRequest) (*integrationsyncv1.SyncSettingsPreview, error) {
	p, err := g.svc.PreviewSyncSettings(ctx, req.GetAccountId(), req.GetIntegrationId(), syncSettings(req.GetSettings()))
	if err != nil {
		return nil, err
	}
	return &integrationsyncv1.SyncSettingsPreview{StopSyncing: int32(p.Stop), StartSyncing: int32(p.Start), InScope: int32(p.In)}, nil
}

func (g *integrations) UpdateSyncSettings(ctx context.Context, req *integrationsyncv1.UpdateSyncSettingsRequest) (*integrationsyncv1.SyncSettings, error) {
	s, err := g.svc.UpdateSyncSettings(ctx, req.GetAccountId(), req.GetIntegrationId(), syncSettings(req.GetSettings()))
	if err != nil {
		return nil, err
	}
	return syncSettingsProto(s), nil
}

func (g *integrations) DisableSync(ctx context.Context, req *integrationsyncv1.DisableSyncRequest) (*integrationsyncv1.ExternalOrganization, error) {
	e, err := g.svc.SetSyncDisabled(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetExternalId(), true)
	if err != nil {
		return nil, err
	}
	return pbconv.External(e), nil
}

func (g *integrations) EnableSync(ctx context.Context, req *integrationsyncv1.EnableSyncRequest) (*integrationsyncv1.ExternalOrganization, error) {
	e, err := g.svc.SetSyncDisabled(ctx, req.GetAccountId(), req.GetIntegrationId(), req.GetExternalId(), false)
	if err != nil {
		return nil, err
	}
	return pbconv.External(e), nil
}

type webhooks struct {
	integrationsyncv1.UnimplementedWebhookServiceServer
	svc *app.Service
}

func (w *webhooks) DeliverWebhook(ctx context.Context, req *integrationsyncv1.DeliverWebhookRequest) (*integrationsyncv1.DeliverWebhookResponse, error) {
	h := http.Header{}
	for k, v := range req.GetHeaders() {
		h.Set(k, v)
	}
	applied, err := w.svc.DeliverWebhook(ctx, req.GetIntegrationId(), h, req.GetBody())
	if err != nil {
		return nil, err
	}
	return &integrationsyncv1.DeliverWebhookResponse{Applied: applied}, nil
}

func budgetProto(b connector.Budget) *integrationsyncv1.RateBudgetPolicy {
	return &integrationsyncv1.RateBudgetPolicy{Requests: int32(b.Requests), Window: durationpb.New(b.Window), Concurrency: int32(b.Concurrency)}
}

func ts(t interface{ IsZero() bool }, p *timestamppb.Timestamp) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return p
}

func integrationProto(v app.IntegrationView) *integrationsyncv1.Integration {
	in := v.Integration
	p := &integrationsyncv1.Integration{
		Id: in.ID, Kind: in.Kind, DisplayName: in.DisplayName, Settings: in.Settings, Endpoint: in.Endpoint,
		State: integrationsyncv1.IntegrationState(in.State), StateMessage: in.StateMessage,
		LastRefreshTime: ts(in.LastRefresh, timestamppb.New(in.LastRefresh)), LastFullRefreshTime: ts(in.LastFullRefresh, timestamppb.New(in.LastFullRefresh)),
		RunningOperationId: in.RunningOperationID, ExternalOrganizationCount: int32(in.ExternalCount), OrphanCount: int32(in.OrphanCount),
		CreateTime: timestamppb.New(in.Created), UpdateTime: timestamppb.New(in.Updated), SyncSettings: syncSettingsProto(in.Sync), Paused: in.Paused,
		Budget: &integrationsyncv1.RateBudget{Policy: budgetProto(v.Policy), Used: int32(v.Usage.Used), Remaining: int32(v.Usage.Remaining),
			ResetTime: ts(v.Usage.ResetsAt, timestamppb.New(v.Usage.ResetsAt)), BlockedUntil: ts(v.Usage.BlockedUntil, timestamppb.New(v.Usage.BlockedUntil))},
	}
	if in.Budget.Requests > 0 {
		p.BudgetPolicy = &integrationsyncv1.RateBudgetPolicy{Requests: int32(in.Budget.Requests), Window: durationpb.New(in.Budget.Window),
			Concurrency: int32(in.Budget.Concurrency)}
	}
	for _, c := range in.Credentials {
		p.CredentialStatus = append(p.CredentialStatus, &integrationsyncv1.CredentialStatus{Name: c.Name, Set: c.Set, UpdateTime: timestamppb.New(c.Updated)})
	}
	return p
}
