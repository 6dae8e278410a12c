// Package clients adapts other services' generated clients to the interfaces integration-sync's
// use cases declare.
package clients

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// Accounts is the org service's LicenseService as app.Accounts.
type Accounts struct{ Client orgv1.LicenseServiceClient }

// errOrgUnavailable answers a change that could not be checked against the subscription.
var errOrgUnavailable = apperr.Unavailable("the org service did not answer; retry shortly")

// Writable asks org whether the account may change anything (its subscription is neither
// canceled nor past due). It asks as integration-sync itself: the answer is not the caller's
// to see, only to be held to.
func (a Accounts) Writable(ctx context.Context, accountID string) (bool, error) {
	ctx = identity.With(ctx, identity.Service("integration-sync"))
	u, err := a.Client.GetLicenseUsage(ctx, &orgv1.GetLicenseUsageRequest{AccountId: accountID})
	switch status.Code(err) {
	case codes.OK:
		return u.GetWritable(), nil
	case codes.NotFound:
		// No license row yet (an account billing has not set up): nothing to hold it to.
		return true, nil
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return false, errOrgUnavailable.Wrap(fmt.Errorf("org: %s", status.Convert(err).Message()))
	}
	return false, fmt.Errorf("ask org whether account %s is writable: %w", accountID, err)
}
