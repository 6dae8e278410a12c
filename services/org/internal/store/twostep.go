package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Two-step verification's SQL: TOTP secrets (sealed by the caller), recovery codes and sign-in
// challenges (digests only). sign_in_challenge_digests is read before the tenant is known, as
// session_digests is; everything else is under row-level security.

const totpColumns = `account_id::text, user_id::text, secret_sealed, enabled_at, pending_expires_at, last_step`

func scanTOTP(row pgx.Row) (domain.TOTP, error) {
	var t domain.TOTP
	var enabled, pending *time.Time
	err := row.Scan(&t.AccountID, &t.UserID, &t.Sealed, &enabled, &pending, &t.LastStep)
	if enabled != nil {
		t.Enabled = *enabled
	}
	if pending != nil {
		t.PendingExpires = *pending
	}
	return t, err
}

// TOTPForUpdate reads the user's TOTP secret, locked until the transaction ends (a code's step
// is checked against last_step and moved on in the same transaction, so a code works once even
// when sent twice at the same moment); ok is false when the user has none.
func (t *Tx) TOTPForUpdate(ctx context.Context, userID string) (domain.TOTP, bool, error) {
	out, err := scanTOTP(t.tx.QueryRow(ctx, `SELECT `+totpColumns+` FROM user_totp WHERE user_id = $1 FOR UPDATE`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.TOTP{}, false, nil
	}
	return out, err == nil, err
}

// PutPendingTOTP starts an enrollment with a new sealed secret, replacing a pending one; ok is
// false when two-step verification is already on (the secret in use is kept).
func (t *Tx) PutPendingTOTP(ctx context.Context, accountID, userID string, sealed []byte, expires, now time.Time) (bool, error) {
	var done bool
	err := t.tx.QueryRow(ctx, `INSERT INTO user_totp (account_id, user_id, secret_sealed, pending_expires_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,
			pending_expires_at = excluded.pending_expires_at, last_step = 0, updated_at = excluded.updated_at
		WHERE user_totp.enabled_at IS NULL
		RETURNING true`, accountID, userID, sealed, expires, now).Scan(&done)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return done, err
}

// EnableTOTP turns the user's pending secret on, its first code being of step.
func (t *Tx) EnableTOTP(ctx context.Context, userID string, step int64, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE user_totp SET enabled_at = $2, pending_expires_at = NULL, last_step = $3, updated_at = $2
		WHERE user_id = $1`, userID, now, step)
	return err
}

// SetTOTPStep records step as the last one whose code was accepted.
func (t *Tx) SetTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE user_totp SET last_step = $2, updated_at = $3 WHERE user_id = $1`, userID, step, now)
	return err
}

// DeleteTwoStep removes the user's TOTP secret and recovery codes, and their sign-ins waiting
// for a code; it reports whether there was a secret.
func (t *Tx) DeleteTwoStep(ctx context.Context, userID string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM user_totp WHERE user_id = $1`, userID)
	if err != nil {
		return false, err
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return false, err
	}
	// The digests go with their challenges (ON DELETE CASCADE).
	if _, err := t.tx.Exec(ctx, `DELETE FROM sign_in_challenges WHERE user_id = $1`, userID); err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// ReplaceRecoveryCodes replaces the user's recovery codes with the ones of these digests.
func (t *Tx) ReplaceRecoveryCodes(ctx context.Context, accountID, userID string, digests [][]byte, now time.Time) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO user_recovery_codes (account_id, user_id, digest, created_at)
		SELECT $1, $2, d, $4 FROM unnest($3::bytea[]) AS d`, accountID, userID, digests, now)
	return err
}

// UseRecoveryCode marks the user's unused recovery code with digest used; ok is false when
// there is none such (unknown, or used already).
func (t *Tx) UseRecoveryCode(ctx context.Context, userID string, digest []byte, now time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE user_recovery_codes SET used_at = $3 WHERE user_id = $1 AND digest = $2 AND used_at IS NULL`,
		userID, digest, now)
	return tag.RowsAffected() == 1, err
}

// TwoStepStatus is what GetCurrentUser tells a person about their own sign-in factors.
type TwoStepStatus struct {
	TOTPOn            bool
	RecoveryCodesLeft int
	HasPassword       bool
}

// TwoStepStatus reads the user's factors in one statement.
func (t *Tx) TwoStepStatus(ctx context.Context, userID string) (TwoStepStatus, error) {
	var s TwoStepStatus
	err := t.tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1 AND enabled_at IS NOT NULL),
			(SELECT count(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL),
			EXISTS (SELECT 1 FROM user_passwords WHERE user_id = $1)`, userID).
		Scan(&s.TOTPOn, &s.RecoveryCodesLeft, &s.HasPassword)
	return s, err
}

// SignInFactors is what decides a sign-in once its password is right, besides the account's
// requirements: whether the user has TOTP on and holds the built-in IT Provider Admin role (the
// administrators who keep a break-glass way in).
type SignInFactors struct {
	TOTPOn        bool
	Administrator bool
}

// SignInFactors reads the user's factors.
func (t *Tx) SignInFactors(ctx context.Context, userID string) (SignInFactors, error) {
	var f SignInFactors
	err := t.tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1 AND enabled_at IS NOT NULL),
			coalesce((SELECT u.role_id = r.id FROM users u, roles r WHERE u.id = $1 AND r.builtin = $2), false)`,
		userID, int16(domain.RoleITProviderAdmin)).Scan(&f.TOTPOn, &f.Administrator)
	return f, err
}

// Sign-in challenges.

const challengeColumns = `id::text, account_id::text, user_id::text, kind, break_glass, created_at, expires_at, failed_codes,
	used_at, user_agent, client_address`

func scanChallenge(row pgx.Row) (domain.Challenge, error) {
	var c domain.Challenge
	var used *time.Time
	err := row.Scan(&c.ID, &c.AccountID, &c.UserID, &c.Kind, &c.BreakGlass, &c.Created, &c.Expires, &c.FailedCodes, &used,
		&c.Client.UserAgent, &c.Client.Address)
	if used != nil {
		c.Used = *used
	}
	return c, err
}

// InsertChallenge adds c with its token's digest, and removes the user's challenges that ended
// before c was made, so the table holds only sign-ins in progress and the recent past.
func (t *Tx) InsertChallenge(ctx context.Context, c domain.Challenge, digest []byte) (domain.Challenge, error) {
	if _, err := t.tx.Exec(ctx, `DELETE FROM sign_in_challenges WHERE user_id = $1 AND (expires_at < $2 OR used_at IS NOT NULL)`,
		c.UserID, c.Created); err != nil {
		return domain.Challenge{}, err
	}
	out, err := scanChallenge(t.tx.QueryRow(ctx, `INSERT INTO sign_in_challenges (account_id, user_id, kind, break_glass, created_at,
			expires_at, user_agent, client_address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+challengeColumns,
		c.AccountID, c.UserID, c.Kind, c.BreakGlass, c.Created, c.Expires, c.Client.UserAgent, c.Client.Address))
	if err != nil {
		return domain.Challenge{}, err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO sign_in_challenge_digests (digest, account_id, challenge_id) VALUES ($1, $2, $3)`,
		digest, c.AccountID, out.ID)
	return out, err
}

// ChallengeByDigest finds the account and id of the challenge whose token has digest; ok is
// false when none has (unknown, or used up).
func (s *Store) ChallengeByDigest(ctx context.Context, digest []byte) (accountID, challengeID string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT account_id::text, challenge_id::text FROM sign_in_challenge_digests WHERE digest = $1`, digest).
		Scan(&accountID, &challengeID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	return accountID, challengeID, err == nil, err
}

// Challenge reads challenge id; ok is false when there is none.
func (t *Tx) Challenge(ctx context.Context, id string) (domain.Challenge, bool, error) {
	return t.challenge(ctx, id, "")
}

// ChallengeForUpdate is Challenge, locked until the transaction ends, so two calls with the
// same token are taken one after the other.
func (t *Tx) ChallengeForUpdate(ctx context.Context, id string) (domain.Challenge, bool, error) {
	return t.challenge(ctx, id, " FOR UPDATE")
}

func (t *Tx) challenge(ctx context.Context, id, lock string) (domain.Challenge, bool, error) {
	c, err := scanChallenge(t.tx.QueryRow(ctx, `SELECT `+challengeColumns+` FROM sign_in_challenges WHERE id = $1::uuid`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Challenge{}, false, nil
	}
	return c, err == nil, err
}

// FailChallengeCode writes the challenge's count of wrong codes; a used-up challenge is closed
// and its token forgotten.
func (t *Tx) FailChallengeCode(ctx context.Context, c domain.Challenge, usedUp bool, now time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sign_in_challenges SET failed_codes = $2 WHERE id = $1`, c.ID, c.FailedCodes); err != nil {
		return err
	}
	if usedUp {
		return t.UseChallenge(ctx, c.ID, now)
	}
	return nil
}

// UseChallenge closes the challenge and forgets its token.
func (t *Tx) UseChallenge(ctx context.Context, id string, now time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sign_in_challenges SET used_at = $2 WHERE id = $1`, id, now); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `DELETE FROM sign_in_challenge_digests WHERE challenge_id = $1`, id)
	return err
}

// SignInRequirements reads the account's sign-in requirements (none when it has no settings
// row yet).
func (t *Tx) SignInRequirements(ctx context.Context) (domain.SignInRequirements, error) {
	var r domain.SignInRequirements
	err := t.tx.QueryRow(ctx, `SELECT require_two_step_verification, require_single_sign_on FROM account_settings`).
		Scan(&r.TwoStepVerification, &r.SingleSignOn)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	return r, err
}

// SealedTOTPSecrets reads up to limit of the account's TOTP secrets, pending ones included, by
// user id after afterUserID ("" from the first).
func (t *Tx) SealedTOTPSecrets(ctx context.Context, afterUserID string, limit int) ([]Sealed, error) {
	rows, err := t.tx.Query(ctx, `SELECT user_id::text, secret_sealed FROM user_totp
		WHERE $1 = '' OR user_id > nullif($1, '')::uuid ORDER BY user_id LIMIT $2`, afterUserID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Sealed])
}

// ResealTOTP replaces the user's sealed TOTP secret old with sealed (the same secret under
// another key), unless it changed meanwhile (a new enrollment); it reports whether it did.
func (t *Tx) ResealTOTP(ctx context.Context, userID string, old, sealed []byte) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE user_totp SET secret_sealed = $3 WHERE user_id = $1 AND secret_sealed = $2`, userID, old, sealed)
	return tag.RowsAffected() == 1, err
}
