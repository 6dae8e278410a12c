package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Session is a session as its person sees it; current marks the one of the request. Its end is
// the absolute one (expire_time), an idle session ends earlier.
func Session(s domain.Session, current string) *orgv1.Session {
	return &orgv1.Session{
		Id:            s.ID,
		CreateTime:    timestamppb.New(s.Created),
		LastUsedTime:  timestamppb.New(s.LastUsed),
		ExpireTime:    timestamppb.New(s.Expires),
		UserAgent:     s.Client.UserAgent,
		ClientAddress: s.Client.Address,
		Current:       s.ID == current,
		Method:        orgv1.SessionMethod(s.Method),
	}
}

// Sessions converts a list of sessions.
func Sessions(ss []domain.Session, current string) []*orgv1.Session {
	out := make([]*orgv1.Session, len(ss))
	for i, s := range ss {
		out[i] = Session(s, current)
	}
	return out
}

// CurrentUser is the signed-in person in their session (csrf_token is the gateway's to fill).
func CurrentUser(c domain.CurrentUser) *orgv1.CurrentUser {
	return &orgv1.CurrentUser{
		AccountId:          c.Identity.AccountID,
		User:               User(c.User),
		Permissions:        c.Identity.Permissions,
		RestrictedToGroups: c.Identity.RestrictedToGroups,
		GroupIds:           c.Identity.GroupIDs,
		Session:            Session(c.Session, c.Session.ID),
		TwoStepEnabled:     c.TwoStepEnabled,
		RecoveryCodesLeft:  int32(c.RecoveryCodesLeft),
		HasPassword:        c.HasPassword,
	}
}

// SignInResponse is a sign-in step's outcome: the person and the session's token (for the
// gateway to move into the cookie), or the challenge still to meet.
func SignInResponse(r domain.SignInResult) *orgv1.SignInResponse {
	if r.Challenge != nil {
		return &orgv1.SignInResponse{Challenge: &orgv1.SignInChallenge{Kind: orgv1.SignInChallengeKind(r.Challenge.Kind),
			Token: r.Challenge.Token, ExpireTime: timestamppb.New(r.Challenge.Expires)}}
	}
	return &orgv1.SignInResponse{CurrentUser: CurrentUser(r.User), SessionToken: r.SessionToken, RecoveryCodes: r.RecoveryCodes}
}

// TwoStepEnrollment is a new secret to scan.
func TwoStepEnrollment(e domain.TOTPEnrollment) *orgv1.TwoStepEnrollment {
	return &orgv1.TwoStepEnrollment{Secret: e.Secret, OtpauthUri: e.URI, QrCodePng: e.QRCodePNG, ExpireTime: timestamppb.New(e.Expires)}
}

// Invitation is an invitation as InviteUser returns it.
func Invitation(i domain.Invitation) *orgv1.Invitation {
	return &orgv1.Invitation{
		Id:         i.Link.ID,
		UserId:     i.Link.UserID,
		Email:      i.Email,
		CreateTime: timestamppb.New(i.Link.Created),
		ExpireTime: timestamppb.New(i.Link.Expires),
	}
}

// LinkKind is the domain's kind of a sign-in link (0 for one it does not know).
func LinkKind(k orgv1.SignInLinkKind) domain.LinkKind {
	switch k {
	case orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_INVITATION:
		return domain.LinkInvitation
	case orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_PASSWORD_RESET:
		return domain.LinkPasswordReset
	}
	return 0
}

// IssuedLink is a minted link as the notification service receives it.
func IssuedLink(l domain.IssuedLink) *orgv1.IssueSignInLinkResponse {
	return &orgv1.IssueSignInLinkResponse{Token: l.Token, UserId: l.UserID, Email: l.Email, FirstName: l.FirstName,
		ExpireTime: timestamppb.New(l.Expires)}
}

// SessionIdentity is the identity a session grants, as the gateway receives it.
func SessionIdentity(id domain.KeyIdentity, sess domain.Session) *orgv1.AuthenticateSessionResponse {
	return &orgv1.AuthenticateSessionResponse{
		AccountId:          id.AccountID,
		UserId:             id.UserID,
		SessionId:          sess.ID,
		Method:             orgv1.SessionMethod(sess.Method),
		Permissions:        id.Permissions,
		RestrictedToGroups: id.RestrictedToGroups,
		GroupIds:           id.GroupIDs,
	}
}
