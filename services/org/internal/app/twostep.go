package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Two-step verification: the second step of a sign-in (a code, or an enrollment when the account
// requires it and the user has none), the person's own enrollment and recovery codes, and an
// administrator's reset. TOTP secrets are sealed under the credential keyring, bound to their
// user; recovery codes and challenge tokens are kept as digests. Neither a code nor a secret is
// ever put in an error or a log line.

func totpAAD(accountID, userID string) []byte { return secrets.AAD("org-user-totp", accountID, userID) }

func (s *Service) sealTOTP(accountID, userID, secret string) ([]byte, error) {
	if s.secrets == nil {
		return nil, domain.ErrNoSecrets
	}
	return s.secrets.Seal([]byte(secret), totpAAD(accountID, userID))
}

func (s *Service) openTOTP(t domain.TOTP) (string, error) {
	if s.secrets == nil {
		return "", domain.ErrNoSecrets
	}
	b, err := s.secrets.Open(t.Sealed, totpAAD(t.AccountID, t.UserID))
	if err != nil {
		return "", fmt.Errorf("open the TOTP secret of user %s: %w", t.UserID, err)
	}
	return string(b), nil
}

// matchTOTP checks code against the user's secret t and, when it is right, records its step so
// it cannot be used again; ok is false for a wrong or replayed code.
func (s *Service) matchTOTP(ctx context.Context, tx *store.Tx, t domain.TOTP, code string, now time.Time) (step int64, ok bool, err error) {
	secret, err := s.openTOTP(t)
	if err != nil {
		return 0, false, err
	}
	step, ok = domain.MatchTOTP(secret, code, now, t.LastStep)
	if !ok || !t.On() {
		return step, ok, nil
	}
	return step, true, tx.SetTOTPStep(ctx, t.UserID, step, now)
}

// challengeFor finds the challenge of token and its user, without locking: what a step needs
// to know before its transaction (the email to throttle, the address to enroll).
func (s *Service) challengeFor(ctx context.Context, token string) (domain.Challenge, domain.User, error) {
	accountID, id, ok, err := s.store.ChallengeByDigest(ctx, domain.TokenDigest(token))
	if err != nil {
		return domain.Challenge{}, domain.User{}, err
	}
	if !ok {
		return domain.Challenge{}, domain.User{}, domain.ErrBadChallenge
	}
	var ch domain.Challenge
	var u domain.User
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		if ch, ok, err = tx.Challenge(ctx, id); err != nil {
			return err
		}
		if !ok {
			return domain.ErrBadChallenge
		}
		u, err = tx.User(ctx, ch.UserID)
		if errors.Is(err, domain.ErrUserNotFound) {
			return domain.ErrBadChallenge
		}
		return err
	})
	return ch, u, err
}

// lockChallenge reads the challenge again, locked, and the user's sign-in, and checks both can
// still complete a step of kind: a challenge ends with its user's deactivation too.
func lockChallenge(ctx context.Context, tx *store.Tx, id string, kind domain.ChallengeKind, now time.Time) (domain.Challenge, store.SignInUser, error) {
	ch, ok, err := tx.ChallengeForUpdate(ctx, id)
	if err != nil {
		return ch, store.SignInUser{}, err
	}
	if !ok {
		return ch, store.SignInUser{}, domain.ErrBadChallenge
	}
	if err := ch.Redeem(kind, now); err != nil {
		return ch, store.SignInUser{}, err
	}
	su, err := tx.SignInUser(ctx, ch.UserID)
	if errors.Is(err, domain.ErrUserNotFound) || (err == nil && !su.User.Active) {
		return ch, su, domain.ErrBadChallenge
	}
	return ch, su, err
}

// completeChallenge uses ch up and opens the session it leads to (a code was proven), unless the
// account's requirements changed meanwhile so that such a session would not be admitted.
func (s *Service) completeChallenge(ctx context.Context, tx *store.Tx, ch domain.Challenge, su store.SignInUser, c domain.Client, now time.Time) (domain.CurrentUser, string, error) {
	if err := tx.UseChallenge(ctx, ch.ID, now); err != nil {
		return domain.CurrentUser{}, "", err
	}
	if !su.Requirements.Admits(domain.Session{Method: ch.Method(), TwoStep: true}) {
		return domain.CurrentUser{}, "", domain.ErrSingleSignOnRequired
	}
	return s.openSession(ctx, tx, ch.AccountID, su.User, su.Requirements, ch.Method(), true, c, now)
}

// VerifySignInCode completes a sign-in waiting for a code with a code of the user's app or one
// of their recovery codes. A wrong one counts against the challenge (five use it up) and stays
// a failure of the email's throttle, both committed though the call fails; a code already
// accepted once is wrong.
func (s *Service) VerifySignInCode(ctx context.Context, token, code, recoveryCode string, c domain.Client) (domain.SignInResult, error) {
	now := s.now()
	pre, u, err := s.challengeFor(ctx, token)
	if err != nil {
		return domain.SignInResult{}, err
	}
	if err := pre.Redeem(domain.ChallengeCode, now); err != nil {
		return domain.SignInResult{}, err
	}
	a, err := s.beginAttempt(ctx, u.Email, c, now)
	if err != nil {
		return domain.SignInResult{}, err
	}
	var out domain.SignInResult
	var wrong error
	err = s.store.InTenant(ctx, pre.AccountID, func(tx *store.Tx) error {
		out, wrong = domain.SignInResult{}, nil
		ch, su, err := lockChallenge(ctx, tx, pre.ID, domain.ChallengeCode, now)
		if err != nil {
			return err
		}
		t, ok, err := tx.TOTPForUpdate(ctx, ch.UserID)
		if err != nil {
			return err
		}
		if !ok || !t.On() {
			// Reset by an administrator since the password was checked.
			return domain.ErrBadChallenge
		}
		right, field := false, "code"
		if code != "" {
			if _, right, err = s.matchTOTP(ctx, tx, t, code, now); err != nil {
				return err
			}
		} else {
			field = "recovery_code"
			if right, err = tx.UseRecoveryCode(ctx, ch.UserID, domain.RecoveryCodeDigest(recoveryCode), now); err != nil {
				return err
			}
		}
		if !right {
			last := ch.FailCode()
			wrong = domain.ErrWrongCode(field, last)
			return tx.FailChallengeCode(ctx, ch, last, now)
		}
		if out.User, out.SessionToken, err = s.completeChallenge(ctx, tx, ch, su, c, now); err != nil {
			return err
		}
		return tx.ForgetFailures(ctx, a.pending...)
	})
	if err != nil {
		// Refused for something else than a wrong code: not a guess.
		if ferr := s.notAFailure(ctx, a); ferr != nil {
			return domain.SignInResult{}, ferr
		}
		return domain.SignInResult{}, err
	}
	if wrong != nil {
		return domain.SignInResult{}, wrong
	}
	return out, nil
}

// StartSignInEnrollment gives a sign-in waiting for enrollment a new secret to scan, replacing
// one started before. The pending secret lasts as long as the sign-in at most.
func (s *Service) StartSignInEnrollment(ctx context.Context, token string) (domain.TOTPEnrollment, error) {
	if s.secrets == nil {
		return domain.TOTPEnrollment{}, domain.ErrNoSecrets
	}
	now := s.now()
	pre, u, err := s.challengeFor(ctx, token)
	if err != nil {
		return domain.TOTPEnrollment{}, err
	}
	if err := pre.Redeem(domain.ChallengeEnrollment, now); err != nil {
		return domain.TOTPEnrollment{}, err
	}
	e, err := domain.NewTOTPEnrollment(u.Email, now)
	if err != nil {
		return domain.TOTPEnrollment{}, err
	}
	if pre.Expires.Before(e.Expires) {
		e.Expires = pre.Expires
	}
	sealed, err := s.sealTOTP(pre.AccountID, u.ID, e.Secret)
	if err != nil {
		return domain.TOTPEnrollment{}, err
	}
	err = s.store.InTenant(ctx, pre.AccountID, func(tx *store.Tx) error {
		ch, _, err := lockChallenge(ctx, tx, pre.ID, domain.ChallengeEnrollment, now)
		if err != nil {
			return err
		}
		ok, err := tx.PutPendingTOTP(ctx, ch.AccountID, ch.UserID, sealed, e.Expires, now)
		if err == nil && !ok {
			// Enrolled meanwhile (another tab): the next sign-in asks for a code instead.
			return domain.ErrBadChallenge
		}
		return err
	})
	if err != nil {
		return domain.TOTPEnrollment{}, err
	}
	return e, nil
}

// CompleteSignInEnrollment confirms the enrollment started during a sign-in with a first code,
// turns two-step verification on, opens the session and returns it with the new recovery codes.
// A wrong code counts against the challenge; the email's throttle is not involved, since the
// code only shows the secret just handed out was scanned.
func (s *Service) CompleteSignInEnrollment(ctx context.Context, token, code string, c domain.Client) (domain.SignInResult, error) {
	if s.secrets == nil {
		return domain.SignInResult{}, domain.ErrNoSecrets
	}
	now := s.now()
	pre, _, err := s.challengeFor(ctx, token)
	if err != nil {
		return domain.SignInResult{}, err
	}
	if err := pre.Redeem(domain.ChallengeEnrollment, now); err != nil {
		return domain.SignInResult{}, err
	}
	codes := domain.NewRecoveryCodes()
	var out domain.SignInResult
	var wrong error
	err = s.store.InTenant(ctx, pre.AccountID, func(tx *store.Tx) error {
		out, wrong = domain.SignInResult{}, nil
		ch, su, err := lockChallenge(ctx, tx, pre.ID, domain.ChallengeEnrollment, now)
		if err != nil {
			return err
		}
		right, err := s.confirmEnrollment(ctx, tx, ch.AccountID, ch.UserID, code, codes, now, domain.ErrBadChallenge)
		if err != nil {
			return err
		}
		if !right {
			last := ch.FailCode()
			wrong = domain.ErrWrongCode("code", last)
			return tx.FailChallengeCode(ctx, ch, last, now)
		}
		out.User, out.SessionToken, err = s.completeChallenge(ctx, tx, ch, su, c, now)
		return err
	})
	if err != nil {
		return domain.SignInResult{}, err
	}
	if wrong != nil {
		return domain.SignInResult{}, wrong
	}
	out.RecoveryCodes = codes
	return out, nil
}

// confirmEnrollment turns the user's pending TOTP on when code is right for its secret, with
// codes as the new recovery codes; right is false, and nothing changes, when the code is wrong.
// alreadyOn is the refusal for a user who has it on already (the two callers word it their way).
func (s *Service) confirmEnrollment(ctx context.Context, tx *store.Tx, accountID, userID, code string, codes []string,
	now time.Time, alreadyOn error) (right bool, err error) {
	t, ok, err := tx.TOTPForUpdate(ctx, userID)
	if err != nil {
		return false, err
	}
	if ok && t.On() {
		return false, alreadyOn
	}
	if !ok || !t.PendingAt(now) {
		return false, domain.ErrNoPendingEnrollment
	}
	step, right, err := s.matchTOTP(ctx, tx, t, code, now)
	if err != nil || !right {
		return false, err
	}
	if err := tx.EnableTOTP(ctx, userID, step, now); err != nil {
		return false, err
	}
	return true, tx.ReplaceRecoveryCodes(ctx, accountID, userID, domain.RecoveryCodeDigests(codes), now)
}

// StartTwoStepEnrollment gives the signed-in caller a new secret to scan, replacing a pending
// one; refused while two-step verification is on.
func (s *Service) StartTwoStepEnrollment(ctx context.Context) (domain.TOTPEnrollment, error) {
	id, err := signedIn(ctx)
	if err != nil {
		return domain.TOTPEnrollment{}, err
	}
	if s.secrets == nil {
		return domain.TOTPEnrollment{}, domain.ErrNoSecrets
	}
	now := s.now()
	var out domain.TOTPEnrollment
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		u, err := tx.User(ctx, id.UserID)
		if err != nil {
			return err
		}
		e, err := domain.NewTOTPEnrollment(u.Email, now)
		if err != nil {
			return err
		}
		sealed, err := s.sealTOTP(id.AccountID, id.UserID, e.Secret)
		if err != nil {
			return err
		}
		ok, err := tx.PutPendingTOTP(ctx, id.AccountID, id.UserID, sealed, e.Expires, now)
		if err != nil {
			return err
		}
		if !ok {
			return domain.ErrTwoStepAlreadyOn
		}
		out = e
		return nil
	})
	return out, err
}

// ConfirmTwoStepEnrollment turns the caller's pending secret on with its first code and returns
// their recovery codes, shown this once.
func (s *Service) ConfirmTwoStepEnrollment(ctx context.Context, code string) ([]string, error) {
	id, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	codes := domain.NewRecoveryCodes()
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		right, err := s.confirmEnrollment(ctx, tx, id.AccountID, id.UserID, code, codes, now, domain.ErrTwoStepAlreadyOn)
		if err == nil && !right {
			err = domain.ErrWrongCode("code", false)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTwoStep turns the caller's two-step verification off once their password (empty for a
// user who has none) and a current code or a recovery code are proven; refused while the
// account requires it. Wrong passwords and codes count against the email's throttle, so a stolen
// session cannot be used to guess them.
func (s *Service) DisableTwoStep(ctx context.Context, password, code string, c domain.Client) error {
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
	if su.Requirements.TwoStepVerification {
		return domain.ErrTwoStepRequired
	}
	a, err := s.beginAttempt(ctx, su.User.Email, c, now)
	if err != nil {
		return err
	}
	// PasswordMatches checks a dummy hash when there is none, so every answer takes as long.
	right, err := domain.PasswordMatches(password, su.Hash)
	if err != nil {
		return err
	}
	if su.Hash == "" {
		right = password == ""
	}
	if !right {
		return apperr.Invalid("password", "is not your password")
	}
	code = strings.TrimSpace(code)
	var wrong bool
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		wrong = false
		req, err := tx.SignInRequirements(ctx)
		if err != nil {
			return err
		}
		if req.TwoStepVerification {
			return domain.ErrTwoStepRequired
		}
		t, ok, err := tx.TOTPForUpdate(ctx, id.UserID)
		if err != nil {
			return err
		}
		if !ok || !t.On() {
			return domain.ErrTwoStepNotOn
		}
		if domain.IsTOTPCode(code) {
			_, right, err = s.matchTOTP(ctx, tx, t, code, now)
		} else {
			right, err = tx.UseRecoveryCode(ctx, id.UserID, domain.RecoveryCodeDigest(code), now)
		}
		if err != nil {
			return err
		}
		if !right {
			wrong = true
			return domain.ErrWrongTwoStepCode
		}
		if _, err := tx.DeleteTwoStep(ctx, id.UserID); err != nil {
			return err
		}
		if err := tx.ClearFailures(ctx, a.emailKey); err != nil {
			return err
		}
		return tx.ForgetFailures(ctx, a.pending...)
	})
	if err != nil && !wrong {
		if ferr := s.notAFailure(ctx, a); ferr != nil {
			return ferr
		}
	}
	return err
}

// RegenerateRecoveryCodes replaces the caller's recovery codes once a current code of their app
// is proven, and returns the new ones, shown this once. Wrong codes count against the email's
// throttle.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, code string, c domain.Client) ([]string, error) {
	id, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var u domain.User
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		var err error
		u, err = tx.User(ctx, id.UserID)
		return err
	})
	if err != nil {
		return nil, err
	}
	a, err := s.beginAttempt(ctx, u.Email, c, now)
	if err != nil {
		return nil, err
	}
	codes := domain.NewRecoveryCodes()
	var wrong bool
	err = s.store.InTenant(ctx, id.AccountID, func(tx *store.Tx) error {
		wrong = false
		t, ok, err := tx.TOTPForUpdate(ctx, id.UserID)
		if err != nil {
			return err
		}
		if !ok || !t.On() {
			return domain.ErrTwoStepNotOn
		}
		_, right, err := s.matchTOTP(ctx, tx, t, code, now)
		if err != nil {
			return err
		}
		if !right {
			wrong = true
			return domain.ErrWrongCode("code", false)
		}
		if err := tx.ReplaceRecoveryCodes(ctx, id.AccountID, id.UserID, domain.RecoveryCodeDigests(codes), now); err != nil {
			return err
		}
		if err := tx.ClearFailures(ctx, a.emailKey); err != nil {
			return err
		}
		return tx.ForgetFailures(ctx, a.pending...)
	})
	if err != nil {
		if !wrong {
			if ferr := s.notAFailure(ctx, a); ferr != nil {
				return nil, ferr
			}
		}
		return nil, err
	}
	return codes, nil
}

// ResetUserTwoStep turns a user's two-step verification off (secret, recovery codes, sign-ins
// waiting for a code) and closes their sessions, for someone who lost both their authenticator
// and their recovery codes. Nobody resets a user who holds more than they do, nor themselves:
// the reset hands the account to whoever holds the user's password. Resetting a user with
// nothing to reset does nothing.
func (s *Service) ResetUserTwoStep(ctx context.Context, accountID, userID string) error {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaUsers))
	if err != nil {
		return err
	}
	if id.UserID != "" && id.UserID == userID {
		return domain.ErrResetOwnTwoStep
	}
	now := s.now()
	return s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		u, err := tx.UserForUpdate(ctx, userID)
		if err != nil {
			return err
		}
		role, err := tx.RoleToGrant(ctx, u.RoleID)
		if err != nil {
			return err
		}
		if err := grantOf(id).CoversHolder("user", u.Grant(role.Levels)); err != nil {
			return err
		}
		had, err := tx.DeleteTwoStep(ctx, userID)
		if err != nil || !had {
			return err
		}
		_, err = tx.RevokeSessions(ctx, userID, "", "", now)
		return err
	})
}
