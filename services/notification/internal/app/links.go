package app

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/render"
)

// IssuedLink is a sign-in link org minted for one email. Its token lives in memory from the call
// to the SMTP session, never in the database, a log or an error.
type IssuedLink struct {
	Token     string
	UserID    string
	Email     string
	FirstName string
	Expires   time.Time
}

// LinkIssuer asks org for the token of an invitation or a password reset link (org's
// SignInAuthService.IssueSignInLink, called as this service). Each call replaces the link's
// previous token. Its errors say what to do with the email: a *LinkRefused, skip it for good;
// ErrOrgUnavailable, wait however long org is away; anything else, a failed try.
type LinkIssuer interface {
	IssueLink(ctx context.Context, accountID string, kind domain.Kind, linkID string) (IssuedLink, error)
}

// LinkRefused is org's refusal to issue a link (it expired or was used, the user is gone): the
// email can never be sent.
type LinkRefused struct {
	// Reason is org's answer, as the delivery record shows it.
	Reason string
}

func (e *LinkRefused) Error() string { return domain.SkipLinkRefused + e.Reason }

// ErrOrgUnavailable marks a try that could not reach org: like an unreachable relay, it delays
// the email and never counts towards giving it up.
var ErrOrgUnavailable = errors.New("the org service is unavailable")

// linkTimeout bounds one IssueSignInLink call: a hung org must not hold a batch of emails.
const linkTimeout = 15 * time.Second

// linkPaths are where each kind's link leads in the web UI.
var linkPaths = map[domain.Kind]string{
	domain.KindInvitation:    "/invitations/accept",
	domain.KindPasswordReset: "/passwordResets/complete",
}

// linkMail has org issue d's link and renders the email around it, in acc's conventions.
func (s *Service) linkMail(ctx context.Context, accountID string, acc domain.Account, d domain.Delivery) (Mail, error) {
	path, ok := linkPaths[d.Kind]
	if !ok || s.links == nil {
		return Mail{}, &LinkRefused{Reason: "this server cannot issue links of this kind"}
	}
	ctx, cancel := context.WithTimeout(ctx, linkTimeout)
	defer cancel()
	link, err := s.links.IssueLink(ctx, accountID, d.Kind, d.LinkID)
	if err != nil {
		return Mail{}, err
	}
	switch {
	case d.UserID != "" && link.UserID != d.UserID:
		return Mail{}, &LinkRefused{Reason: "the link belongs to another user than the event named"}
	case link.Email == "" || link.Token == "":
		return Mail{}, &LinkRefused{Reason: "the user has no email address"}
	}
	data := render.Data{Kind: d.Kind, RecipientName: link.FirstName, AccountName: acc.DisplayName,
		LinkURL: s.cfg.WebBaseURL + path + "?token=" + url.QueryEscape(link.Token)}
	if !link.Expires.IsZero() {
		data.Expires = domain.NewClock(acc.TimeZone, acc.DateFormat).DateTime(link.Expires)
	}
	m, err := s.render.Email(data)
	if err != nil {
		return Mail{}, err
	}
	return Mail{ID: d.ID, To: link.Email, Subject: m.Subject, Text: m.Text, HTML: m.HTML}, nil
}
