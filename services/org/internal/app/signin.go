package app

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Sign-in for people: passwords, sessions, invitation and reset links. No password, token or
// digest is ever logged or put in an error: errors say what went wrong in words only.

// WithSignInTimeouts sets how long sessions and links last (unset ones take the defaults).
func (s *Service) WithSignInTimeouts(t domain.SignInTimeouts) *Service {
	s.signIn = t.WithDefaults()
	return s
}

// keepEndedSessions is how long a closed or expired session stays listed in the table (never to
// the person) before a later sign-in of the same user removes it.
const keepEndedSessions = 30 * 24 * time.Hour

// signedIn returns the caller, a person signed in with a session (the rule
// CALLER_SIGNED_IN_USER has already admitted only such a caller; this is the second line).
func signedIn(ctx context.Context) (identity.Identity, error) {
	id, ok := identity.From(ctx)
	if !ok {
		return id, identity.ErrUnauthenticated
	}
	if !id.SignedIn() || id.UserID == "" {
		return id, apperr.PermissionDenied("only a person signed in with a session may do this")
	}
	return id, nil
}

// onlyService admits the named service only.
func onlyService(ctx context.Context, name string, refusal error) error {
	id, ok := identity.From(ctx)
	if !ok {
		return identity.ErrUnauthenticated
	}
	if id.Kind != identity.KindService || id.PrincipalID != name {
		return refusal
	}
	return nil
}

// attempt is a sign-in attempt counted against its throttle keys, written as failures before
// the password is checked.
type attempt struct {
	emailKey []byte
	pending  []int64
}

// beginAttempt refuses an attempt that must wait (domain.EmailWait, domain.AddressWait), and
// otherwise writes it as a failure of the email and of the client's address. The refusal comes
// before any password is checked and depends only on the failures, so it is the same for a
// known and an unknown email.
func (s *Service) beginAttempt(ctx context.Context, email string, c domain.Client, now time.Time) (attempt, error) {
	a := attempt{emailKey: domain.EmailThrottleKey(email)}
	keys := [][]byte{a.emailKey}
	var addrKey []byte
	if c.Address != "" {
		addrKey = domain.AddressThrottleKey(c.Address)
		keys = append(keys, addrKey)
	}
	err := s.store.InSystem(ctx, func(tx *store.Tx) error {
		a.pending = nil
		if err := tx.LockThrottleKeys(ctx, keys...); err != nil {
			return err
		}
		if err := tx.PruneFailures(ctx, now.Add(-2*domain.ThrottleWindow)); err != nil {
			return err
		}
		since := now.Add(-domain.ThrottleWindow)
		failures, err := tx.Failures(ctx, a.emailKey, since)
		if err != nil {
			return err
		}
		wait := domain.EmailWait(failures, now)
		if addrKey != nil {
			failures, err := tx.Failures(ctx, addrKey, since)
			if err != nil {
				return err
			}
			wait = max(wait, domain.AddressWait(failures, now))
		}
		if wait > 0 {
			return domain.ErrThrottled(wait)
		}
		for _, k := range keys {
			id, err := tx.RecordFailure(ctx, k, now)
			if err != nil {
				return err
			}
			a.pending = append(a.pending, id)
		}
		return nil
	})
	return a, err
}

// notAFailure removes the attempt's failures: the password was right, something else refused.
func (s *Service) notAFailure(ctx context.Context, a attempt) error {
	return s.store.ForgetFailures(ctx, a.pending...)
}

// candidate is a user an email may sign in as, with what checking it needs.
type candidate struct {
	accountID string
	user      store.SignInUser
}

// matchPassword checks password against every user with email (in accountID when set) and
// returns the active ones it opens. An email nobody has is checked against a dummy hash, so it
// takes about as long as one somebody has.
func (s *Service) matchPassword(ctx context.Context, email, password, accountID string) ([]candidate, error) {
	users, err := s.store.UsersByEmail(ctx, domain.EmailDigest(email), accountID)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		_, err := domain.PasswordMatches(password, "")
		return nil, err
	}
	var matched []candidate
	for _, u := range users[:min(len(users), store.MaxEmailCandidates())] {
		var su store.SignInUser
		err := s.store.InTenant(ctx, u.AccountID, func(tx *store.Tx) error {
			var err error
			su, err = tx.SignInUser(ctx, u.UserID)
			return err
		})
		if errors.Is(err, domain.ErrUserNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ok, err := domain.PasswordMatches(password, su.Hash)
		if err != nil {
			return nil, err
		}
		// Inactive is checked after the hash, so a deactivated user's answer takes as long.
		if ok && su.User.Active {
			matched = append(matched, candidate{accountID: u.AccountID, user: su})
		}
	}
	return matched, nil
}

// SignIn checks an email and password and, as the account's requirements and the user's
// factors decide (domain.DecideSignIn), opens a session or issues the challenge of the second
// step. Wrong password, unknown email, inactive user and no password yet all get
// domain.ErrWrongPassword; too many failures get domain.Throttled before any check.
func (s *Service) SignIn(ctx context.Context, email, password, accountID string, breakGlass bool, c domain.Client) (domain.SignInResult, error) {
	now := s.now()
	a, err := s.beginAttempt(ctx, email, c, now)
	if err != nil {
		return domain.SignInResult{}, err
	}
	matched, err := s.matchPassword(ctx, email, password, accountID)
	if err != nil {
		return domain.SignInResult{}, err
	}
	switch {
	case len(matched) == 0:
		return domain.SignInResult{}, domain.ErrWrongPassword
	case len(matched) > 1:
		// Said only to someone who knows the password, so it tells a guesser nothing.
		if err := s.notAFailure(ctx, a); err != nil {
			return domain.SignInResult{}, err
		}
		return domain.SignInResult{}, apperr.Invalid("account_id", "this email and password sign in to more than one account; name the account")
	}
	m := matched[0]
	var out domain.SignInResult
	err = s.store.InTenant(ctx, m.accountID, func(tx *store.Tx) error {
		out = domain.SignInResult{}
		f, err := tx.SignInFactors(ctx, m.user.User.ID)
		if err != nil {
			return err
		}
		d, err := domain.DecideSignIn(m.user.Requirements, f.TOTPOn, f.Administrator, breakGlass)
		if err != nil {
			return err
		}
		if d.Challenge != 0 {
			// The password alone proves nothing yet: the email's failures stay until the second
			// step succeeds, only this attempt is not one.
			out.Challenge, err = issueChallenge(ctx, tx, domain.NewChallenge(d.Challenge, m.accountID, m.user.User.ID, d.BreakGlass, now, c))
			if err != nil {
				return err
			}
			return tx.ForgetFailures(ctx, a.pending...)
		}
		out.User, out.SessionToken, err = s.openSession(ctx, tx, m.accountID, m.user.User, m.user.Requirements, d.Method, d.TwoStep, c, now)
		if err != nil {
			return err
		}
		return tx.ForgetFailures(ctx, a.pending...)
	})
	if errors.Is(err, domain.ErrSingleSignOnRequired) {
		// A requirement refused the right password: not a guess.
		if ferr := s.notAFailure(ctx, a); ferr != nil {
			return domain.SignInResult{}, ferr
		}
	}
	if err != nil {
		return domain.SignInResult{}, err
	}
	return out, nil
}

// issueChallenge stores c with a new token's digest and returns it with the token.
func issueChallenge(ctx context.Context, tx *store.Tx, c domain.Challenge) (*domain.IssuedChallenge, error) {
	token := domain.NewChallengeToken()
	c, err := tx.InsertChallenge(ctx, c, domain.TokenDigest(token))
	if err != nil {
		return nil, err
	}
	return &domain.IssuedChallenge{Kind: c.Kind, Token: token, Expires: c.Expires}, nil
}

// openSession opens a session of user u (method, twoStep) and returns the person in it with the
// session's token. A break-glass session publishes user.break_glass_signed_in in the same
// transaction, so there is none without its audit record. The person is in: their email's
// failed sign-ins are forgiven (the address keeps the others it made).
func (s *Service) openSession(ctx context.Context, tx *store.Tx, accountID string, u domain.User, req domain.SignInRequirements,
	method domain.SessionMethod, twoStep bool, c domain.Client, now time.Time) (domain.CurrentUser, string, error) {
	if err := tx.DeleteEndedSessions(ctx, u.ID, now.Add(-keepEndedSessions)); err != nil {
		return domain.CurrentUser{}, "", err
	}
	token := domain.NewSessionToken()
	sess, err := tx.InsertSession(ctx, domain.NewSession(accountID, u.ID, now, s.signIn, c, method, twoStep), domain.TokenDigest(token))
	if err != nil {
		return domain.CurrentUser{}, "", err
	}
	if method == domain.MethodBreakGlass {
		ev := &orgv1.UserBreakGlassSignedIn{AccountId: accountID, UserId: u.ID, SessionId: sess.ID,
			ClientAddress: sess.Client.Address, UserAgent: sess.Client.UserAgent}
		if err := tx.Enqueue(ctx, ev, now); err != nil {
			return domain.CurrentUser{}, "", err
		}
	}
	out, err := s.currentUser(ctx, tx, u, sess, req, now)
	if err != nil {
		return domain.CurrentUser{}, "", err
	}
	if err := tx.ClearFailures(ctx, domain.EmailThrottleKey(u.Email)); err != nil {
		return domain.CurrentUser{}, "", err
	}
	return out, token, nil
}

// currentUser is the person with what they hold now in session sess, under the account's
// requirements req.
func (s *Service) currentUser(ctx context.Context, tx *store.Tx, u domain.User, sess domain.Session, req domain.SignInRequirements, now time.Time) (domain.CurrentUser, error) {
	grant, err := tx.UserGrant(ctx, u.ID)
	if err != nil {
		return domain.CurrentUser{}, err
	}
	id, err := domain.SessionGrant{Session: sess, User: grant, Requirements: req}.Identity(now, s.signIn)
	if err != nil {
		return domain.CurrentUser{}, err
	}
	f, err := tx.TwoStepStatus(ctx, u.ID)
	if err != nil {
		return domain.CurrentUser{}, err
	}
	return domain.CurrentUser{User: u, Identity: id, Session: sess, TwoStepEnabled: f.TOTPOn,
		RecoveryCodesLeft: f.RecoveryCodesLeft, HasPassword: f.HasPassword}, nil
}

// GetCurrentUser returns the signed-in caller as they are now.
func (s *Service) GetCurrentUser(ctx context.Context) (domain.CurrentUser, error) {
	id, err := signedIn(ctx)
	if err != nil {
		return domain.CurrentUser{}, err
	}
	now := s.now()
	var out domain.CurrentUser
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		u, err := tx.User(ctx, id.UserID)
		if errors.Is(err, domain.ErrUserNotFound) {
			return domain.ErrSessionEnded
		}
		if err != nil {
			return err
		}
		sess, err := tx.Session(ctx, id.UserID, id.SessionID)
		if errors.Is(err, domain.ErrSessionNotFound) {
			return domain.ErrSessionEnded
		}
		if err != nil {
			return err
		}
		req, err := tx.SignInRequirements(ctx)
		if err != nil {
			return err
		}
		out, err = s.currentUser(ctx, tx, u, sess, req, now)
		return err
	})
	return out, err
}

// SignOut closes the caller's session.
func (s *Service) SignOut(ctx context.Context) error {
	id, err := signedIn(ctx)
	if err != nil {
		return err
	}
	return s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		_, err := tx.RevokeSessions(ctx, id.UserID, id.SessionID, "", s.now())
		return err
	})
}

// ListMySessions lists the caller's open sessions, the most recently used first, a page at a
// time.
func (s *Service) ListMySessions(ctx context.Context, pageSize int32, pageToken string) ([]domain.Session, string, error) {
	page, err := pagetoken.Open[store.SessionPosition](ctx, s.pages, "my sessions", pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	id, err := signedIn(ctx)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	var list []domain.Session
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		var err error
		list, err = tx.OpenSessions(ctx, id.UserID, now, now.Add(-s.signIn.SessionIdle), continuing(page), page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, list, func(x domain.Session) store.SessionPosition {
		return store.SessionPosition{LastUsed: x.LastUsed, ID: x.ID}
	})
}

// RevokeMySession closes one of the caller's sessions; another person's is NotFound, like one
// that does not exist. Closing a closed one again succeeds.
func (s *Service) RevokeMySession(ctx context.Context, sessionID string) error {
	id, err := signedIn(ctx)
	if err != nil {
		return err
	}
	return s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		n, err := tx.RevokeSessions(ctx, id.UserID, sessionID, "", s.now())
		if err != nil || n > 0 {
			return err
		}
		_, err = tx.Session(ctx, id.UserID, sessionID)
		return err
	})
}

// RevokeAllMySessions closes every session of the caller, this one included, and says how many.
func (s *Service) RevokeAllMySessions(ctx context.Context) (int, error) {
	id, err := signedIn(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		var err error
		n, err = tx.RevokeSessions(ctx, id.UserID, "", "", s.now())
		return err
	})
	return n, err
}

// ChangePassword replaces the caller's password once the current one is proven, and closes the
// caller's other sessions. Wrong current passwords count against the email's throttle, so a
// stolen session cannot be used to guess the password.
func (s *Service) ChangePassword(ctx context.Context, current, next string, c domain.Client) error {
	id, err := signedIn(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	var su store.SignInUser
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		var err error
		su, err = tx.SignInUser(ctx, id.UserID)
		return err
	})
	if err != nil {
		return err
	}
	a, err := s.beginAttempt(ctx, su.User.Email, c, now)
	if err != nil {
		return err
	}
	ok, err := domain.PasswordMatches(current, su.Hash)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.Invalid("current_password", "is not your current password")
	}
	if err := s.notAFailure(ctx, a); err != nil {
		return err
	}
	if err := domain.CheckPassword("new_password", next, passwordOwner(su.User)); err != nil {
		return err
	}
	hash, err := domain.HashPassword(next)
	if err != nil {
		return err
	}
	return s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		if err := tx.SetPassword(ctx, id.AccountID, id.UserID, hash, now); err != nil {
			return err
		}
		if err := tx.ClearFailures(ctx, a.emailKey); err != nil {
			return err
		}
		_, err := tx.RevokeSessions(ctx, id.UserID, "", id.SessionID, now)
		return err
	})
}

func passwordOwner(u domain.User) domain.PasswordOwner {
	return domain.PasswordOwner{Email: u.Email, FirstName: u.FirstName, LastName: u.LastName}
}

// InviteUser makes a new invitation for an active user, closing any pending one, and publishes
// user.invited in the same transaction; the notification service emails the link. Nobody
// invites a user who holds more than they do: the invitation lets its holder act as that user.
func (s *Service) InviteUser(ctx context.Context, accountID, userID string) (domain.Invitation, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaUsers))
	if err != nil {
		return domain.Invitation{}, err
	}
	now := s.now()
	var out domain.Invitation
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		u, err := tx.UserForUpdate(ctx, userID)
		if err != nil {
			return err
		}
		if !u.Active {
			return domain.ErrInviteInactiveUser
		}
		role, err := tx.RoleToGrant(ctx, u.RoleID)
		if err != nil {
			return err
		}
		if err := grantOf(id).CoversHolder("user", u.Grant(role.Levels)); err != nil {
			return err
		}
		if err := tx.RefreshEmailDigest(ctx, accountID, userID); err != nil {
			return err
		}
		link, err := tx.InsertLink(ctx, domain.NewLink(domain.LinkInvitation, accountID, userID, id.Actor(), now, s.signIn))
		if err != nil {
			return err
		}
		ev := &orgv1.UserInvited{AccountId: accountID, InvitationId: link.ID, UserId: userID, InvitedByUserId: id.UserID,
			ExpireTime: timestamppb.New(link.Expires)}
		if err := tx.Enqueue(ctx, ev, now); err != nil {
			return err
		}
		out = domain.Invitation{Link: link, Email: u.Email}
		return nil
	})
	return out, err
}

// redeemLink finds the pending link of kind whose token is token, checks the new password
// against the policy (field names it), sets it, uses the link up and closes every session of
// the user; it returns the user.
func (s *Service) redeemLink(ctx context.Context, kind domain.LinkKind, token, field, password string) (domain.User, error) {
	now := s.now()
	accountID, linkID, ok, err := s.store.LinkByDigest(ctx, domain.TokenDigest(token))
	if err != nil {
		return domain.User{}, err
	}
	if !ok {
		return domain.User{}, domain.ErrBadLinkToken(kind)
	}
	var out domain.User
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		link, ok, err := tx.LinkForUpdate(ctx, linkID, kind)
		if err != nil {
			return err
		}
		if !ok {
			return domain.ErrBadLinkToken(kind)
		}
		if err := link.Redeem(kind, now); err != nil {
			return err
		}
		u, err := tx.UserForUpdate(ctx, link.UserID)
		if err != nil {
			return err
		}
		if !u.Active {
			return domain.ErrBadLinkToken(kind)
		}
		if err := domain.CheckPassword(field, password, passwordOwner(u)); err != nil {
			return err
		}
		hash, err := domain.HashPassword(password)
		if err != nil {
			return err
		}
		if err := tx.SetPassword(ctx, accountID, u.ID, hash, now); err != nil {
			return err
		}
		if err := tx.UseLink(ctx, link.ID, now); err != nil {
			return err
		}
		// Whoever held the old password (or a session made with it) is out.
		if _, err := tx.RevokeSessions(ctx, u.ID, "", "", now); err != nil {
			return err
		}
		// The person proved they own the mailbox: their email's failed sign-ins are forgiven.
		if err := tx.ClearFailures(ctx, domain.EmailThrottleKey(u.Email)); err != nil {
			return err
		}
		out = u
		return nil
	})
	return out, err
}

// AcceptInvitation sets the invited user's password with the invitation link's token, once,
// and returns the email to sign in with.
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (string, error) {
	u, err := s.redeemLink(ctx, domain.LinkInvitation, token, "password", password)
	return u.Email, err
}

// ResetPassword sets a new password with a reset link's token, once, and closes every session
// of the user.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	_, err := s.redeemLink(ctx, domain.LinkPasswordReset, token, "new_password", password)
	return err
}

// RequestPasswordReset makes a reset (and publishes user.password_reset_requested) for each
// active user with email, in accountID when set, unless one was made for that user within
// domain.ResetInterval. The caller learns nothing: the answer is the same whatever happened.
func (s *Service) RequestPasswordReset(ctx context.Context, email, accountID string) error {
	now := s.now()
	users, err := s.store.UsersByEmail(ctx, domain.EmailDigest(email), accountID)
	if err != nil {
		return err
	}
	for _, eu := range users[:min(len(users), store.MaxEmailCandidates())] {
		err := s.store.InTenant(ctx, eu.AccountID, func(tx *store.Tx) error {
			u, err := tx.UserForUpdate(ctx, eu.UserID)
			if errors.Is(err, domain.ErrUserNotFound) {
				return nil
			}
			if err != nil || !u.Active {
				return err
			}
			last, err := tx.LastLinkTime(ctx, u.ID, domain.LinkPasswordReset)
			if err != nil || !domain.ResetAllowed(last, now) {
				return err
			}
			link, err := tx.InsertLink(ctx, domain.NewLink(domain.LinkPasswordReset, eu.AccountID, u.ID, "", now, s.signIn))
			if err != nil {
				return err
			}
			return tx.Enqueue(ctx, &orgv1.PasswordResetRequested{AccountId: eu.AccountID, ResetId: link.ID, UserId: u.ID,
				ExpireTime: timestamppb.New(link.Expires)}, now)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// IssueSignInLink mints a new token for a pending link (invitation or reset) for the
// notification service to email, replacing the previous token. Only the notification service
// may ask: whoever holds the token can set the user's password.
func (s *Service) IssueSignInLink(ctx context.Context, accountID string, kind domain.LinkKind, linkID string) (domain.IssuedLink, error) {
	if err := onlyService(ctx, domain.NotificationService, domain.ErrOnlyNotification); err != nil {
		return domain.IssuedLink{}, err
	}
	now := s.now()
	var out domain.IssuedLink
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		link, ok, err := tx.LinkForUpdate(ctx, linkID, kind)
		if err != nil {
			return err
		}
		if !ok {
			return domain.ErrLinkNotFound(kind)
		}
		if !link.Pending(now) {
			return domain.ErrLinkNotPending(kind)
		}
		u, err := tx.User(ctx, link.UserID)
		if err != nil {
			return err
		}
		if !u.Active {
			return domain.ErrLinkNotPending(kind)
		}
		token := domain.NewLinkToken()
		if err := tx.SetLinkDigest(ctx, link, domain.TokenDigest(token)); err != nil {
			return err
		}
		out = domain.IssuedLink{Token: token, UserID: u.ID, Email: u.Email, FirstName: u.FirstName, Expires: link.Expires}
		return nil
	})
	return out, err
}

// AuthenticateSession resolves a session token's digest to the identity the session grants
// now, and returns the session, for the gateway only: closed, idle or expired sessions,
// deactivated users and sessions the account's requirements no longer admit get
// domain.ErrSessionEnded. It reads the session, its user and the account's requirements on
// every request, so a deactivation, a role change, a sign-out or a requirement turned on
// applies to the very next one; a use is written at most once a minute.
func (s *Service) AuthenticateSession(ctx context.Context, digest []byte) (domain.KeyIdentity, domain.Session, error) {
	if err := onlyService(ctx, domain.GatewayService, domain.ErrOnlyGateway); err != nil {
		return domain.KeyIdentity{}, domain.Session{}, err
	}
	grant, err := s.store.AuthenticateSession(ctx, digest)
	if err != nil {
		return domain.KeyIdentity{}, domain.Session{}, err
	}
	now := s.now()
	id, err := grant.Identity(now, s.signIn)
	if err != nil {
		if grant.Session.Open(now, s.signIn) && !grant.Requirements.Admits(grant.Session) {
			// Ended for good: turning the requirement off again does not bring it back, and it
			// leaves the person's list of sessions.
			if rerr := s.store.InTenant(ctx, grant.Session.AccountID, func(tx *store.Tx) error {
				_, err := tx.RevokeSessions(ctx, grant.Session.UserID, grant.Session.ID, "", now)
				return err
			}); rerr != nil {
				return domain.KeyIdentity{}, domain.Session{}, rerr
			}
		}
		return domain.KeyIdentity{}, domain.Session{}, err
	}
	if grant.Session.NeedsUseRecorded(now) {
		err := s.store.InTenant(ctx, grant.Session.AccountID, func(tx *store.Tx) error {
			return tx.RecordSessionUse(ctx, grant.Session.ID, now)
		})
		if err != nil {
			return domain.KeyIdentity{}, domain.Session{}, err
		}
	}
	return id, grant.Session, nil
}
