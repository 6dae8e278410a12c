// Package signinlink asks org for the links of invitation and password reset emails
// (SignInAuthService.IssueSignInLink), as the notification service, and sorts org's answers into
// what the sender does with the email.
package signinlink

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/notification/internal/app"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

// Self is the service identity org issues links to; it refuses every other caller.
const Self = "notification"

// Issuer is app.LinkIssuer over org's SignInAuthService.
type Issuer struct {
	Client orgv1.SignInAuthServiceClient
}

var kinds = map[domain.Kind]orgv1.SignInLinkKind{
	domain.KindInvitation:    orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_INVITATION,
	domain.KindPasswordReset: orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_PASSWORD_RESET,
}

// IssueLink mints the link of the invitation or reset linkID. Errors carry org's code and words
// only (which never hold a token): FailedPrecondition and NotFound are refusals (*app.LinkRefused),
// an org that cannot be reached is app.ErrOrgUnavailable.
func (i Issuer) IssueLink(ctx context.Context, accountID string, kind domain.Kind, linkID string) (app.IssuedLink, error) {
	k, ok := kinds[kind]
	if !ok {
		return app.IssuedLink{}, &app.LinkRefused{Reason: fmt.Sprintf("kind %s has no sign-in link", kind.Name())}
	}
	// The link is minted for the service, whoever's work led here: org refuses anyone else.
	ctx = identity.With(ctx, identity.Service(Self))
	res, err := i.Client.IssueSignInLink(ctx, &orgv1.IssueSignInLinkRequest{AccountId: accountID, Kind: k, Id: linkID})
	if err != nil {
		s := status.Convert(err)
		switch s.Code() {
		case codes.FailedPrecondition, codes.NotFound:
			return app.IssuedLink{}, &app.LinkRefused{Reason: s.Message()}
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted:
			return app.IssuedLink{}, fmt.Errorf("%w: %s: %s", app.ErrOrgUnavailable, s.Code(), s.Message())
		}
		return app.IssuedLink{}, fmt.Errorf("org did not issue the sign-in link: %s: %s", s.Code(), s.Message())
	}
	link := app.IssuedLink{Token: res.GetToken(), UserID: res.GetUserId(), Email: res.GetEmail(), FirstName: res.GetFirstName()}
	if res.GetExpireTime() != nil {
		link.Expires = res.GetExpireTime().AsTime()
	}
	return link, nil
}
