package clients

import (
	"context"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// Organizations is the org service's OrganizationService and OrganizationSyncService as
// app.Organizations.
type Organizations struct {
	Orgs orgv1.OrganizationServiceClient
	Sync orgv1.OrganizationSyncServiceClient
}

// asSync is the identity the sync's own changes are made with.
func asSync(ctx context.Context) context.Context {
	return identity.With(ctx, identity.Service("integration-sync"))
}

// CreateSynced creates the organization of a PSA company and returns its id.
func (c Organizations) CreateSynced(ctx context.Context, accountID, integrationID, requestID string, o domain.Organization) (string, error) {
	out, err := c.Sync.CreateSyncedOrganization(asSync(ctx), &orgv1.CreateSyncedOrganizationRequest{AccountId: accountID,
		IntegrationId: integrationID, RequestId: requestID, Organization: &orgv1.Organization{Name: o.Name, TypeId: o.TypeID,
			StatusId: o.StatusID, ParentId: o.ParentID}})
	if err != nil {
		return "", fromOrg(err)
	}
	return out.GetId(), nil
}

// UpdateSynced applies a PSA company's changes to its organization.
func (c Organizations) UpdateSynced(ctx context.Context, accountID, integrationID, organizationID string, ch domain.OrgChanges) error {
	_, err := c.Sync.UpdateSyncedOrganization(asSync(ctx), &orgv1.UpdateSyncedOrganizationRequest{AccountId: accountID,
		IntegrationId: integrationID, OrganizationId: organizationID, Name: ch.Name, TypeId: ch.TypeID, StatusId: ch.StatusID,
		Active: ch.Active})
	return fromOrg(err)
}

// DeleteSynced deletes an organization the integration brought in, with its sub-organizations.
func (c Organizations) DeleteSynced(ctx context.Context, accountID, integrationID, organizationID string) ([]string, error) {
	out, err := c.Sync.DeleteSyncedOrganization(asSync(ctx), &orgv1.DeleteSyncedOrganizationRequest{AccountId: accountID,
		IntegrationId: integrationID, OrganizationId: organizationID})
	if err != nil {
		return nil, fromOrg(err)
	}
	return out.GetDeletedOrganizationIds(), nil
}

// Delete deletes an organization as the caller in ctx.
func (c Organizations) Delete(ctx context.Context, accountID, organizationID string) ([]string, error) {
	out, err := c.Orgs.DeleteOrganization(ctx, &orgv1.DeleteOrganizationRequest{AccountId: accountID, OrganizationId: organizationID})
	if err != nil {
		return nil, fromOrg(err)
	}
	return out.GetDeletedOrganizationIds(), nil
}

var peerKinds = map[codes.Code]apperr.Kind{
	codes.InvalidArgument:    apperr.KindInvalid,
	codes.NotFound:           apperr.KindNotFound,
	codes.AlreadyExists:      apperr.KindConflict,
	codes.Aborted:            apperr.KindConflict,
	codes.FailedPrecondition: apperr.KindFailedPrecondition,
	codes.PermissionDenied:   apperr.KindPermissionDenied,
	codes.Unauthenticated:    apperr.KindUnauthenticated,
	codes.ResourceExhausted:  apperr.KindResourceExhausted,
	codes.Unavailable:        apperr.KindUnavailable,
	codes.DeadlineExceeded:   apperr.KindUnavailable,
	codes.Canceled:           apperr.KindUnavailable,
}

// fromOrg turns org's refusal into an apperr with org's kind, reason and words, so the sync
// can tell "no license free" from "org is down" and show the reason as org gave it.
func fromOrg(err error) error {
	if err == nil {
		return nil
	}
	s := status.Convert(err)
	kind, ok := peerKinds[s.Code()]
	if !ok {
		return fmt.Errorf("org: %w", err)
	}
	e := &apperr.Error{Kind: kind, Message: s.Message()}
	for _, d := range s.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			e.Reason = ei.GetReason()
		}
	}
	return e
}
