package grpcapi

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// Metadata the gateway attests on public and session calls: the client's address (as the
// gateway determined it, trusted proxies honoured) and its User-Agent.
const (
	ClientAddressKey = "x-orgplane-client-address"
	UserAgentKey     = "x-orgplane-user-agent"
)

// RegisterSignIn registers orgv1.SignInService and orgv1.SignInAuthService on s.
func RegisterSignIn(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterSignInServiceServer(s, &signInServer{svc: svc})
	orgv1.RegisterSignInAuthServiceServer(s, &signInAuthServer{svc: svc})
}

type signInServer struct {
	orgv1.UnimplementedSignInServiceServer
	svc *app.Service
}

// client is what the gateway attests about the caller's client. Anyone can put metadata on a
// call, so it is believed only from the gateway acting as itself; from any other caller it is
// ignored (and throttling by address does not apply).
func client(ctx context.Context) domain.Client {
	id, ok := identity.From(ctx)
	if !ok || id.Kind != identity.KindService || id.PrincipalID != domain.GatewayService {
		return domain.Client{}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	one := func(key string) string {
		if v := md.Get(key); len(v) == 1 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	return domain.Client{Address: one(ClientAddressKey), UserAgent: one(UserAgentKey)}.Trimmed()
}

// sessionClient is client for a signed-in person's call, which the gateway makes acting as the
// person: the attested address is believed there because only the gateway turns cookies into
// identities (AuthenticateSession admits it alone).
func sessionClient(ctx context.Context) domain.Client {
	id, ok := identity.From(ctx)
	if !ok || !id.SignedIn() {
		return domain.Client{}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(ClientAddressKey); len(v) == 1 {
		return domain.Client{Address: strings.TrimSpace(v[0])}.Trimmed()
	}
	return domain.Client{}
}

// withRetryInfo turns a throttling refusal into a status carrying google.rpc.RetryInfo (the
// gateway's Retry-After); other errors pass unchanged to the shared error mapper.
func withRetryInfo(err error) error {
	var t *domain.Throttled
	if !errors.As(err, &t) {
		return err
	}
	s, _ := status.New(codes.ResourceExhausted, t.Refusal.Message).WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(t.RetryAfter)},
		&errdetails.ErrorInfo{Reason: t.Refusal.Reason, Domain: rpc.ErrorDomain},
	)
	return s.Err()
}

func (a *signInServer) SignIn(ctx context.Context, req *orgv1.SignInRequest) (*orgv1.SignInResponse, error) {
	r, err := a.svc.SignIn(ctx, req.GetEmail(), req.GetPassword(), req.GetAccountId(), req.GetBreakGlass(), client(ctx))
	if err != nil {
		return nil, withRetryInfo(err)
	}
	return pbconv.SignInResponse(r), nil
}

func (a *signInServer) VerifySignInCode(ctx context.Context, req *orgv1.VerifySignInCodeRequest) (*orgv1.SignInResponse, error) {
	r, err := a.svc.VerifySignInCode(ctx, req.GetChallengeToken(), req.GetCode(), req.GetRecoveryCode(), client(ctx))
	if err != nil {
		return nil, withRetryInfo(err)
	}
	return pbconv.SignInResponse(r), nil
}

func (a *signInServer) StartSignInEnrollment(ctx context.Context, req *orgv1.StartSignInEnrollmentRequest) (*orgv1.TwoStepEnrollment, error) {
	e, err := a.svc.StartSignInEnrollment(ctx, req.GetChallengeToken())
	if err != nil {
		return nil, err
	}
	return pbconv.TwoStepEnrollment(e), nil
}

func (a *signInServer) CompleteSignInEnrollment(ctx context.Context, req *orgv1.CompleteSignInEnrollmentRequest) (*orgv1.SignInResponse, error) {
	r, err := a.svc.CompleteSignInEnrollment(ctx, req.GetChallengeToken(), req.GetCode(), client(ctx))
	if err != nil {
		return nil, err
	}
	return pbconv.SignInResponse(r), nil
}

func (a *signInServer) StartTwoStepEnrollment(ctx context.Context, _ *orgv1.StartTwoStepEnrollmentRequest) (*orgv1.TwoStepEnrollment, error) {
	e, err := a.svc.StartTwoStepEnrollment(ctx)
	if err != nil {
		return nil, err
	}
	return pbconv.TwoStepEnrollment(e), nil
}

func (a *signInServer) ConfirmTwoStepEnrollment(ctx context.Context, req *orgv1.ConfirmTwoStepEnrollmentRequest) (*orgv1.RecoveryCodes, error) {
	codes, err := a.svc.ConfirmTwoStepEnrollment(ctx, req.GetCode())
	if err != nil {
		return nil, err
	}
	return &orgv1.RecoveryCodes{Codes: codes}, nil
}

func (a *signInServer) DisableTwoStep(ctx context.Context, req *orgv1.DisableTwoStepRequest) (*orgv1.DisableTwoStepResponse, error) {
	if err := a.svc.DisableTwoStep(ctx, req.GetPassword(), req.GetCode(), sessionClient(ctx)); err != nil {
		return nil, withRetryInfo(err)
	}
	return &orgv1.DisableTwoStepResponse{}, nil
}

func (a *signInServer) RegenerateRecoveryCodes(ctx context.Context, req *orgv1.RegenerateRecoveryCodesRequest) (*orgv1.RecoveryCodes, error) {
	codes, err := a.svc.RegenerateRecoveryCodes(ctx, req.GetCode(), sessionClient(ctx))
	if err != nil {
		return nil, withRetryInfo(err)
	}
	return &orgv1.RecoveryCodes{Codes: codes}, nil
}

func (a *signInServer) ResetUserTwoStep(ctx context.Context, req *orgv1.ResetUserTwoStepRequest) (*orgv1.ResetUserTwoStepResponse, error) {
	if err := a.svc.ResetUserTwoStep(ctx, req.GetAccountId(), req.GetUserId()); err != nil {
		return nil, err
	}
	return &orgv1.ResetUserTwoStepResponse{}, nil
}

func (a *signInServer) SignOut(ctx context.Context, _ *orgv1.SignOutRequest) (*orgv1.SignOutResponse, error) {
	if err := a.svc.SignOut(ctx); err != nil {
		return nil, err
	}
	return &orgv1.SignOutResponse{}, nil
}

func (a *signInServer) GetCurrentUser(ctx context.Context, _ *orgv1.GetCurrentUserRequest) (*orgv1.CurrentUser, error) {
	cu, err := a.svc.GetCurrentUser(ctx)
	if err != nil {
		return nil, err
	}
	return pbconv.CurrentUser(cu), nil
}

func (a *signInServer) ListMySessions(ctx context.Context, req *orgv1.ListMySessionsRequest) (*orgv1.ListMySessionsResponse, error) {
	list, next, err := a.svc.ListMySessions(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	id, _ := identity.From(ctx)
	return &orgv1.ListMySessionsResponse{Sessions: pbconv.Sessions(list, id.SessionID), NextPageToken: next}, nil
}

func (a *signInServer) RevokeMySession(ctx context.Context, req *orgv1.RevokeMySessionRequest) (*orgv1.RevokeMySessionResponse, error) {
	if err := a.svc.RevokeMySession(ctx, req.GetSessionId()); err != nil {
		return nil, err
	}
	return &orgv1.RevokeMySessionResponse{}, nil
}

func (a *signInServer) RevokeAllMySessions(ctx context.Context, _ *orgv1.RevokeAllMySessionsRequest) (*orgv1.RevokeAllMySessionsResponse, error) {
	n, err := a.svc.RevokeAllMySessions(ctx)
	if err != nil {
		return nil, err
	}
	return &orgv1.RevokeAllMySessionsResponse{Revoked: int32(n)}, nil
}

func (a *signInServer) ChangePassword(ctx context.Context, req *orgv1.ChangePasswordRequest) (*orgv1.ChangePasswordResponse, error) {
	if err := a.svc.ChangePassword(ctx, req.GetCurrentPassword(), req.GetNewPassword(), sessionClient(ctx)); err != nil {
		return nil, withRetryInfo(err)
	}
	return &orgv1.ChangePasswordResponse{}, nil
}

func (a *signInServer) RequestPasswordReset(ctx context.Context, req *orgv1.RequestPasswordResetRequest) (*orgv1.RequestPasswordResetResponse, error) {
	if err := a.svc.RequestPasswordReset(ctx, req.GetEmail(), req.GetAccountId()); err != nil {
		return nil, err
	}
	return &orgv1.RequestPasswordResetResponse{}, nil
}

func (a *signInServer) ResetPassword(ctx context.Context, req *orgv1.ResetPasswordRequest) (*orgv1.ResetPasswordResponse, error) {
	if err := a.svc.ResetPassword(ctx, req.GetToken(), req.GetNewPassword()); err != nil {
		return nil, err
	}
	return &orgv1.ResetPasswordResponse{}, nil
}

func (a *signInServer) AcceptInvitation(ctx context.Context, req *orgv1.AcceptInvitationRequest) (*orgv1.AcceptInvitationResponse, error) {
	email, err := a.svc.AcceptInvitation(ctx, req.GetToken(), req.GetPassword())
	if err != nil {
		return nil, err
	}
	return &orgv1.AcceptInvitationResponse{Email: email}, nil
}

func (a *signInServer) InviteUser(ctx context.Context, req *orgv1.InviteUserRequest) (*orgv1.Invitation, error) {
	inv, err := a.svc.InviteUser(ctx, req.GetAccountId(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return pbconv.Invitation(inv), nil
}

type signInAuthServer struct {
	orgv1.UnimplementedSignInAuthServiceServer
	svc *app.Service
}

func (a *signInAuthServer) AuthenticateSession(ctx context.Context, req *orgv1.AuthenticateSessionRequest) (*orgv1.AuthenticateSessionResponse, error) {
	id, sess, err := a.svc.AuthenticateSession(ctx, req.GetDigest())
	if err != nil {
		return nil, err
	}
	return pbconv.SessionIdentity(id, sess), nil
}

func (a *signInAuthServer) IssueSignInLink(ctx context.Context, req *orgv1.IssueSignInLinkRequest) (*orgv1.IssueSignInLinkResponse, error) {
	l, err := a.svc.IssueSignInLink(ctx, req.GetAccountId(), pbconv.LinkKind(req.GetKind()), req.GetId())
	if err != nil {
		return nil, err
	}
	return pbconv.IssuedLink(l), nil
}
