// Package clients adapts other services' generated clients to the narrow interfaces app declares.
package clients

import (
	"context"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Organizations is the org service's OrganizationService as app.Organizations.
type Organizations struct {
	Client    orgv1.OrganizationServiceClient
	Licensing orgv1.LicenseServiceClient
}

// CheckVisible reads the organization as the caller: org answers NotFound for one the caller's
// groups do not cover, and that answer is passed on as it is.
func (o Organizations) CheckVisible(ctx context.Context, accountID, organizationID string) error {
	_, err := o.Client.GetOrganization(ctx, &orgv1.GetOrganizationRequest{AccountId: accountID, OrganizationId: organizationID})
	return err
}
