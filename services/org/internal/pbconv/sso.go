package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// SSOProvider is an account's identity provider as the API shows it: never its client secret,
// only whether one is stored.
func SSOProvider(p domain.SSOProvider) *orgv1.SingleSignOnProvider {
	return &orgv1.SingleSignOnProvider{
		Issuer:          p.Issuer,
		ClientId:        p.ClientID,
		HasClientSecret: p.HasClientSecret,
		CreateUsers:     p.CreateUsers,
		DefaultRoleId:   p.DefaultRoleID,
		RedirectUri:     p.RedirectURI,
		UpdateTime:      timestamppb.New(p.Updated),
	}
}

// SSOProviderChange reads the provider of an update.
func SSOProviderChange(p *orgv1.SingleSignOnProvider) domain.SSOProviderChange {
	return domain.SSOProviderChange{
		Issuer:        p.GetIssuer(),
		ClientID:      p.GetClientId(),
		ClientSecret:  p.GetClientSecret(),
		CreateUsers:   p.GetCreateUsers(),
		DefaultRoleID: p.GetDefaultRoleId(),
	}
}

// SSOStart is a started sign-in as the gateway receives it (it moves flow_binding into the
// flow cookie).
func SSOStart(s domain.SSOStart) *orgv1.StartSingleSignOnResponse {
	return &orgv1.StartSingleSignOnResponse{AuthorizationUrl: s.AuthorizationURL, FlowBinding: s.Binding,
		ExpireTime: timestamppb.New(s.Expires)}
}

// SSOSignIn is a completed sign-in as the gateway receives it (it moves session_token into the
// session cookie and redirects to return_path).
func SSOSignIn(s domain.SSOSignIn) *orgv1.SignInResponse {
	return &orgv1.SignInResponse{CurrentUser: CurrentUser(s.User), SessionToken: s.SessionToken, ReturnPath: s.ReturnPath}
}
