// Package accountstate answers, for the services other than org, whether an account may change
// anything: while its subscription is canceled or past due the account is read-only, and org
// (which billing keeps told) is the one that knows.
package accountstate

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// ErrInactive refuses a member's change while the account's subscription is canceled or past
// due.
var ErrInactive = &apperr.Error{Kind: apperr.KindPermissionDenied, Reason: "SUBSCRIPTION_INACTIVE",
	Message: "the account's subscription is canceled or past due: the account is read-only until the subscription is reactivated"}

var errOrgUnavailable = apperr.Unavailable("the org service did not answer; retry shortly")

// Checker asks org's LicenseService as the service Self.
type Checker struct {
	Client orgv1.LicenseServiceClient
	Self   string
}

// Writable reports whether the account may change anything. It asks as the service itself: the
// answer is not the caller's to see, only to be held to.
func (c Checker) Writable(ctx context.Context, accountID string) (bool, error) {
	ctx = identity.With(ctx, identity.Service(c.Self))
	u, err := c.Client.GetLicenseUsage(ctx, &orgv1.GetLicenseUsageRequest{AccountId: accountID})
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

// RequireWritable refuses a member's change to a read-only account (ErrInactive); operators and
// services are not held to it.
func (c Checker) RequireWritable(ctx context.Context, id identity.Identity, accountID string) error {
	if id.Operator() || id.Kind == identity.KindService {
		return nil
	}
	ok, err := c.Writable(ctx, accountID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrInactive
	}
	return nil
}
