// Package clients adapts other services' generated clients to the interfaces billing's use
// cases declare.
package clients

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

// Org is the org service's LicenseService as app.OrgLicenses.
type Org struct{ client orgv1.LicenseServiceClient }

// NewOrg wraps the generated client.
func NewOrg(client orgv1.LicenseServiceClient) *Org { return &Org{client: client} }

// SetLicenseLimit asks org to enforce l. A refusal comes back as org's own status (with its
// details), so the caller sees what it always saw; a call that got no answer comes back as
// domain.ErrOrgUnreachable.
func (o *Org) SetLicenseLimit(ctx context.Context, accountID string, l domain.OrgLimit) (domain.Usage, error) {
	u, err := o.client.SetLicenseLimit(ctx, &orgv1.SetLicenseLimitRequest{AccountId: accountID, Unlimited: l.Unlimited,
		OrganizationLimit: l.Limit, Writable: l.Writable, Generation: l.Generation})
	if err != nil {
		return domain.Usage{}, classify(err)
	}
	return usage(u), nil
}

// LicenseUsage reads the account's limit and exact use from org.
func (o *Org) LicenseUsage(ctx context.Context, accountID string) (domain.Usage, error) {
	u, err := o.client.GetLicenseUsage(ctx, &orgv1.GetLicenseUsageRequest{AccountId: accountID})
	if err != nil {
		return domain.Usage{}, classify(err)
	}
	return usage(u), nil
}

func usage(u *orgv1.LicenseUsage) domain.Usage {
	return domain.Usage{OrgLimit: domain.OrgLimit{Unlimited: u.GetUnlimited(), Limit: u.GetOrganizationLimit(),
		Writable: u.GetWritable(), Generation: u.GetGeneration()}, Used: u.GetUsed()}
}

// classify tells an answer from org (returned as it is) from a call that got none: org
// unreachable, out of time, canceled. Those may or may not have been applied and may succeed
// when tried again. The cause travels as text only, so that the caller's status is billing's
// ErrOrgUnreachable rather than the transport's.
func classify(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return domain.ErrOrgUnreachable.Wrap(errors.New(err.Error()))
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
		return domain.ErrOrgUnreachable.Wrap(fmt.Errorf("org: %s", status.Convert(err).Message()))
	}
	return err
}
