package clients

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/pkg/apperr"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
)

// self is how mapping asks peers for what is not the caller's to see, only to be held to.
func self(ctx context.Context) context.Context {
	return identity.With(ctx, identity.Service("mapping"))
}

func unavailable(peer string, err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return apperr.Unavailable("the " + peer + " service did not answer; retry shortly").Wrap(fmt.Errorf("%s: %s", peer, status.Convert(err).Message()))
	}
	return err
}

// Licenses reads the account's licenses and whether it may change anything.
func (o Organizations) Licenses(ctx context.Context, accountID string) (domain.Licenses, error) {
	u, err := o.Licensing.GetLicenseUsage(self(ctx), &orgv1.GetLicenseUsageRequest{AccountId: accountID})
	if status.Code(err) == codes.NotFound {
		return domain.Licenses{Unlimited: true, Writable: true}, nil
	}
	if err != nil {
		return domain.Licenses{}, unavailable("org", err)
	}
	return domain.Licenses{Unlimited: u.GetUnlimited(), Limit: int(u.GetOrganizationLimit()), Used: int(u.GetUsed()),
		Writable: u.GetWritable()}, nil
}

// BulkCreate creates organizations by name as the identity in ctx (the import's), idempotent by
// requestID (AIP-155), and returns their ids in order.
func (o Organizations) BulkCreate(ctx context.Context, accountID, requestID string, names []string) ([]string, error) {
	req := &orgv1.BulkCreateOrganizationsRequest{AccountId: accountID, RequestId: requestID}
	for _, n := range names {
		req.Organizations = append(req.Organizations, &orgv1.Organization{Name: n})
	}
	resp, err := o.Client.BulkCreateOrganizations(ctx, req)
	switch status.Code(err) {
	case codes.OK:
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return nil, unavailable("org", err)
	default:
		// org refused the creations (licenses gone, a name taken meanwhile): its words, for the
		// import's items.
		return nil, apperr.FailedPrecondition(status.Convert(err).Message())
	}
	ids := make([]string, len(resp.GetOrganizations()))
	for i, org := range resp.GetOrganizations() {
		ids[i] = org.GetId()
	}
	return ids, nil
}

// Integrations is integration-sync's directory as app.Integrations.
type Integrations struct {
	Client integrationsyncv1.IntegrationDirectoryServiceClient
}

// Summaries lists every integration of an account, for the grid's columns: the directory pages,
// so this follows its pages to the last.
func (i Integrations) Summaries(ctx context.Context, accountID string) ([]domain.Integration, error) {
	var out []domain.Integration
	req := &integrationsyncv1.ListIntegrationSummariesRequest{AccountId: accountID, PageSize: pagetoken.MaxPageSize}
	for {
		resp, err := i.Client.ListIntegrationSummaries(self(ctx), req)
		if err != nil {
			return nil, unavailable("integration-sync", err)
		}
		for _, in := range resp.GetIntegrations() {
			d := domain.Integration{ID: in.GetId(), Kind: in.GetKind(), DisplayName: in.GetDisplayName(), Refreshing: in.GetRefreshing()}
			if in.GetLastRefreshTime() != nil {
				d.LastRefresh = in.GetLastRefreshTime().AsTime()
			}
			out = append(out, d)
		}
		if resp.GetNextPageToken() == "" {
			return out, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}
