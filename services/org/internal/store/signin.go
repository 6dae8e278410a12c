package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Sign-in's SQL. The tables read before the tenant is known (session_digests,
// sign_in_link_digests, user_email_digests, sign_in_failures) hold only digests, ids and times;
// everything else is under row-level security and read in the tenant found through them.

// setEmailDigest keeps user_email_digests in step with the user's email.
func (t *Tx) setEmailDigest(ctx context.Context, accountID, userID, email string) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO user_email_digests (user_id, account_id, digest) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET digest = excluded.digest`, userID, accountID, domain.EmailDigest(email))
	return err
}

// RefreshEmailDigest rewrites the user's email lookup from its stored email (an invitation does,
// so a user the migration's backfill normalized differently can sign in).
func (t *Tx) RefreshEmailDigest(ctx context.Context, accountID, userID string) error {
	u, err := t.User(ctx, userID)
	if err != nil {
		return err
	}
	return t.setEmailDigest(ctx, accountID, userID, u.Email)
}

// EmailUser is a user found by email digest.
type EmailUser struct {
	AccountID string
	UserID    string
}

// maxEmailCandidates bounds the work one sign-in can cause (one password check per candidate):
// an email in more accounts than this must name the account.
const maxEmailCandidates = 10

// UsersByEmail finds the users whose normalized email has digest, in accountID when it is set,
// at most maxEmailCandidates+1 of them so the caller can tell there were too many.
func (s *Store) UsersByEmail(ctx context.Context, digest []byte, accountID string) ([]EmailUser, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_id::text, user_id::text FROM user_email_digests
		WHERE digest = $1 AND ($2 = '' OR account_id::text = $2) ORDER BY account_id, user_id LIMIT $3`,
		digest, accountID, maxEmailCandidates+1)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[EmailUser])
}

// MaxEmailCandidates is UsersByEmail's bound.
func MaxEmailCandidates() int { return maxEmailCandidates }

// SignInUser is what signing in as a user needs: the user, its password hash ("" for none) and
// the account's requirements.
type SignInUser struct {
	User         domain.User
	Hash         string
	Requirements domain.SignInRequirements
}

// SignInUser reads the user, its password and its account's sign-in requirements.
func (t *Tx) SignInUser(ctx context.Context, userID string) (SignInUser, error) {
	var out SignInUser
	u, err := t.User(ctx, userID)
	if err != nil {
		return out, err
	}
	out.User = u
	if out.Hash, err = t.PasswordHash(ctx, userID); err != nil {
		return out, err
	}
	err = t.tx.QueryRow(ctx, `SELECT require_two_step_verification, require_single_sign_on FROM account_settings`).
		Scan(&out.Requirements.TwoStepVerification, &out.Requirements.SingleSignOn)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	return out, err
}

// PasswordHash returns the user's password hash, "" when it has none.
func (t *Tx) PasswordHash(ctx context.Context, userID string) (string, error) {
	var h string
	err := t.tx.QueryRow(ctx, `SELECT hash FROM user_passwords WHERE user_id = $1`, userID).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return h, err
}

// SetPassword sets (or replaces) the user's password hash.
func (t *Tx) SetPassword(ctx context.Context, accountID, userID, hash string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO user_passwords (account_id, user_id, hash, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id, user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
		accountID, userID, hash, at)
	return err
}

// Throttling. Each attempt runs in one transaction that locks its keys (in a fixed order, so two
// attempts never deadlock), reads their failures and writes the attempt as a failure before the
// password is checked; a success removes it.

// throttleLockClass is the first key of the advisory locks LockThrottleKeys takes (the second
// is from the throttle key), beside LockTree's class.
const throttleLockClass = 0x6f727468 // "orth"

// LockThrottleKeys takes the transaction's advisory locks on keys.
func (t *Tx) LockThrottleKeys(ctx context.Context, keys ...[]byte) error {
	ids := make([]int32, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, int32(binary.BigEndian.Uint32(k[:4])))
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, int32(throttleLockClass), id); err != nil {
			return err
		}
	}
	return nil
}

// Failures returns when key failed since since.
func (t *Tx) Failures(ctx context.Context, key []byte, since time.Time) ([]time.Time, error) {
	rows, err := t.tx.Query(ctx, `SELECT failed_at FROM sign_in_failures WHERE key = $1 AND failed_at > $2`, key, since)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[time.Time])
}

// RecordFailure writes a failure of key at at and returns its id.
func (t *Tx) RecordFailure(ctx context.Context, key []byte, at time.Time) (int64, error) {
	var id int64
	err := t.tx.QueryRow(ctx, `INSERT INTO sign_in_failures (key, failed_at) VALUES ($1, $2) RETURNING id`, key, at).Scan(&id)
	return id, err
}

// PruneFailures deletes up to a bounded number of failures older than before, so the table
// stays as small as the window without a job of its own.
func (t *Tx) PruneFailures(ctx context.Context, before time.Time) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM sign_in_failures WHERE id IN (
		SELECT id FROM sign_in_failures WHERE failed_at < $1 ORDER BY failed_at LIMIT 200)`, before)
	return err
}

// ForgetFailures deletes the failures with these ids (an attempt that turned out not to be one).
func (s *Store) ForgetFailures(ctx context.Context, ids ...int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sign_in_failures WHERE id = ANY($1)`, ids)
	return err
}

// ForgetFailures is Store.ForgetFailures inside a transaction.
func (t *Tx) ForgetFailures(ctx context.Context, ids ...int64) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM sign_in_failures WHERE id = ANY($1)`, ids)
	return err
}

// ClearFailures deletes every failure of key (a success for that email).
func (t *Tx) ClearFailures(ctx context.Context, key []byte) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM sign_in_failures WHERE key = $1`, key)
	return err
}

// Sessions.

const sessionColumns = `s.id::text, s.account_id::text, s.user_id::text, s.created_at, s.last_used_at, s.expires_at,
	s.revoked_at, s.user_agent, s.client_address, s.method, s.two_step`

func scanSession(row pgx.Row) (domain.Session, error) {
	var s domain.Session
	var revoked *time.Time
	err := row.Scan(&s.ID, &s.AccountID, &s.UserID, &s.Created, &s.LastUsed, &s.Expires, &revoked, &s.Client.UserAgent, &s.Client.Address, &s.Method, &s.TwoStep)
	if revoked != nil {
		s.Revoked = *revoked
	}
	return s, err
}

// InsertSession opens s and stores its token's digest for authentication.
func (t *Tx) InsertSession(ctx context.Context, s domain.Session, digest []byte) (domain.Session, error) {
	out, err := scanSession(t.tx.QueryRow(ctx, `INSERT INTO sessions AS s (account_id, user_id, created_at, last_used_at, expires_at,
			user_agent, client_address, method, two_step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+sessionColumns,
		s.AccountID, s.UserID, s.Created, s.LastUsed, s.Expires, s.Client.UserAgent, s.Client.Address, s.Method, s.TwoStep))
	if err != nil {
		return domain.Session{}, err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO session_digests (digest, account_id, session_id) VALUES ($1, $2, $3)`, digest, s.AccountID, out.ID)
	return out, err
}

// Session reads the user's session id; domain.ErrSessionNotFound when the user has none such.
func (t *Tx) Session(ctx context.Context, userID, id string) (domain.Session, error) {
	s, err := scanSession(t.tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id::text = $1 AND s.user_id = $2`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Session{}, domain.ErrSessionNotFound
	}
	return s, err
}

// SessionPosition is a session's place in the most-recently-used-first list.
type SessionPosition struct {
	LastUsed time.Time `json:"t"`
	ID       string    `json:"i"`
}

// OpenSessions reads up to limit of the user's sessions still open at now (used since
// idleSince, not past their end, not revoked), most recently used first, after the position
// after (nil: from the start).
func (t *Tx) OpenSessions(ctx context.Context, userID string, now, idleSince time.Time, after *SessionPosition, limit int) ([]domain.Session, error) {
	cond, args := "true", []any{userID, now, idleSince, limit}
	if after != nil {
		cond = `(s.last_used_at, s.id) < ($5, $6::uuid)`
		args = append(args, after.LastUsed, after.ID)
	}
	rows, err := t.tx.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_used_at > $3 AND `+cond+`
		ORDER BY s.last_used_at DESC, s.id DESC LIMIT $4`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Session, error) { return scanSession(r) })
}

// RevokeSessions closes the user's open sessions at at, all of them, or only id when id is set,
// all but except when except is set, and forgets their digests, so their cookies find nothing.
// It returns how many it closed.
func (t *Tx) RevokeSessions(ctx context.Context, userID, id, except string, at time.Time) (int, error) {
	rows, err := t.tx.Query(ctx, `UPDATE sessions SET revoked_at = $2
		WHERE user_id = $1 AND revoked_at IS NULL AND ($3 = '' OR id::text = $3) AND ($4 = '' OR id::text <> $4)
		RETURNING id`, userID, at, id, except)
	if err != nil {
		return 0, err
	}
	return t.forgetRevoked(ctx, rows)
}

// forgetRevoked deletes the digests of the sessions rows (ids) names, just revoked, and returns
// how many there were.
func (t *Tx) forgetRevoked(ctx context.Context, rows pgx.Rows) (int, error) {
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	_, err = t.tx.Exec(ctx, `DELETE FROM session_digests WHERE session_id = ANY($1::uuid[])`, ids)
	return len(ids), err
}

// UnendedSessions reads the account's sessions neither revoked nor past their end at now, of
// every user (idle ones included: they have not ended for good).
func (t *Tx) UnendedSessions(ctx context.Context, now time.Time) ([]domain.Session, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.revoked_at IS NULL AND s.expires_at > $1`, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Session, error) { return scanSession(r) })
}

// RevokeSessionsByID closes the account's open sessions among ids at at and forgets their
// digests; it returns how many it closed.
func (t *Tx) RevokeSessionsByID(ctx context.Context, ids []string, at time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	rows, err := t.tx.Query(ctx, `UPDATE sessions SET revoked_at = $2 WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL RETURNING id`, ids, at)
	if err != nil {
		return 0, err
	}
	return t.forgetRevoked(ctx, rows)
}

// DeleteEndedSessions removes the user's sessions that ended before before (revoked or
// expired), so the table does not grow with every sign-in.
func (t *Tx) DeleteEndedSessions(ctx context.Context, userID string, before time.Time) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND (revoked_at < $2 OR expires_at < $2)`, userID, before)
	return err
}

// RecordSessionUse sets when a session was last used.
func (t *Tx) RecordSessionUse(ctx context.Context, id string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE sessions SET last_used_at = greatest(last_used_at, $2) WHERE id = $1`, id, at)
	return err
}

// AuthenticateSession finds the session whose token has digest, with its user as it is now
// (active, role, scope) and its account's sign-in requirements (so a requirement turned on
// applies to the next request); domain.ErrBadCredential when none has it. It takes one round trip
// outside Tx, as AuthenticateAPIKey does and for the same reasons: the first statement scopes
// the implicit transaction to the session's account (found by digest outside row-level
// security), the second reads under that scope.
func (s *Store) AuthenticateSession(ctx context.Context, digest []byte) (domain.SessionGrant, error) {
	batch := &pgx.Batch{}
	batch.Queue(`SELECT set_config('app.account_id', coalesce((SELECT account_id::text FROM session_digests WHERE digest = $1), ''), true)`, digest)
	batch.Queue(`SELECT `+sessionColumns+`, u.active, u.all_organizations, r.permissions,
			coalesce((SELECT array_agg(g.group_id::text) FROM user_groups g WHERE g.user_id = u.id), '{}'),
			coalesce(st.require_two_step_verification, false), coalesce(st.require_single_sign_on, false)
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN roles r ON r.id = u.role_id
			LEFT JOIN account_settings st ON st.account_id = s.account_id
		WHERE s.id = (SELECT session_id FROM session_digests WHERE digest = $1)`, digest)
	var g domain.SessionGrant
	var perms []byte
	var revoked *time.Time
	br := s.pool.SendBatch(ctx, batch)
	_, err := br.Exec()
	if err == nil {
		ss := &g.Session
		err = br.QueryRow().Scan(&ss.ID, &ss.AccountID, &ss.UserID, &ss.Created, &ss.LastUsed, &ss.Expires, &revoked,
			&ss.Client.UserAgent, &ss.Client.Address, &ss.Method, &ss.TwoStep, &g.User.Active, &g.User.AllOrganizations, &perms, &g.User.GroupIDs,
			&g.Requirements.TwoStepVerification, &g.Requirements.SingleSignOn)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.SessionGrant{}, domain.ErrBadCredential
	}
	if err != nil {
		return domain.SessionGrant{}, err
	}
	if revoked != nil {
		g.Session.Revoked = *revoked
	}
	g.User.ID = g.Session.UserID
	if err := json.Unmarshal(perms, &g.User.Levels); err != nil {
		return domain.SessionGrant{}, err
	}
	return g, nil
}

// UserGrant reads what the user holds now, as a session's user (for GetCurrentUser).
func (t *Tx) UserGrant(ctx context.Context, userID string) (domain.KeyUser, error) {
	var u domain.KeyUser
	var perms []byte
	err := t.tx.QueryRow(ctx, `SELECT u.id::text, u.active, u.all_organizations, r.permissions,
			coalesce((SELECT array_agg(g.group_id::text) FROM user_groups g WHERE g.user_id = u.id), '{}')
		FROM users u JOIN roles r ON r.id = u.role_id WHERE u.id = $1`, userID).
		Scan(&u.ID, &u.Active, &u.AllOrganizations, &perms, &u.GroupIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, domain.ErrBadCredential
	}
	if err != nil {
		return u, err
	}
	return u, json.Unmarshal(perms, &u.Levels)
}

// Sign-in links.

const linkColumns = `id::text, account_id::text, user_id::text, kind, created_by, created_at, expires_at, used_at, closed_at`

func scanLink(row pgx.Row) (domain.SignInLink, error) {
	var l domain.SignInLink
	var used, closed *time.Time
	err := row.Scan(&l.ID, &l.AccountID, &l.UserID, &l.Kind, &l.CreatedBy, &l.Created, &l.Expires, &used, &closed)
	if used != nil {
		l.Used = *used
	}
	if closed != nil {
		l.Closed = *closed
	}
	return l, err
}

// InsertLink closes the user's pending link of the same kind (a new invitation replaces the
// old) and adds l.
func (t *Tx) InsertLink(ctx context.Context, l domain.SignInLink) (domain.SignInLink, error) {
	if _, err := t.closeLinks(ctx, l.UserID, l.Kind, l.Created); err != nil {
		return domain.SignInLink{}, err
	}
	return scanLink(t.tx.QueryRow(ctx, `INSERT INTO sign_in_links (account_id, user_id, kind, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+linkColumns, l.AccountID, l.UserID, l.Kind, l.CreatedBy, l.Created, l.Expires))
}

// ClosePendingLinks closes every pending link of the user (invitations and resets) at at and
// forgets their tokens, so a link already mailed finds nothing; it returns how many it closed.
func (t *Tx) ClosePendingLinks(ctx context.Context, userID string, at time.Time) (int, error) {
	return t.closeLinks(ctx, userID, 0, at)
}

// closeLinks closes the user's pending links of kind (0: of every kind) at at and deletes their
// digests.
func (t *Tx) closeLinks(ctx context.Context, userID string, kind domain.LinkKind, at time.Time) (int, error) {
	rows, err := t.tx.Query(ctx, `UPDATE sign_in_links SET closed_at = $3
		WHERE user_id = $1 AND ($2 = 0 OR kind = $2) AND used_at IS NULL AND closed_at IS NULL RETURNING id`, userID, kind, at)
	if err != nil {
		return 0, err
	}
	closed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(closed) == 0 {
		return 0, err
	}
	_, err = t.tx.Exec(ctx, `DELETE FROM sign_in_link_digests WHERE link_id = ANY($1::uuid[])`, closed)
	return len(closed), err
}

// LastLinkTime is when the user's latest link of kind was made (zero: never).
func (t *Tx) LastLinkTime(ctx context.Context, userID string, kind domain.LinkKind) (time.Time, error) {
	var at *time.Time
	err := t.tx.QueryRow(ctx, `SELECT max(created_at) FROM sign_in_links WHERE user_id = $1 AND kind = $2`, userID, kind).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, err
	}
	return *at, nil
}

// LinkForUpdate reads link id of kind, locked until the transaction ends; ok is false when there
// is none.
func (t *Tx) LinkForUpdate(ctx context.Context, id string, kind domain.LinkKind) (l domain.SignInLink, ok bool, err error) {
	l, err = scanLink(t.tx.QueryRow(ctx, `SELECT `+linkColumns+` FROM sign_in_links WHERE id::text = $1 AND kind = $2 FOR UPDATE`, id, kind))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.SignInLink{}, false, nil
	}
	return l, err == nil, err
}

// SetLinkDigest stores the digest of the link's new token, replacing the previous one's.
func (t *Tx) SetLinkDigest(ctx context.Context, l domain.SignInLink, digest []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO sign_in_link_digests (digest, account_id, link_id) VALUES ($1, $2, $3)
		ON CONFLICT (link_id) DO UPDATE SET digest = excluded.digest`, digest, l.AccountID, l.ID)
	return err
}

// UseLink marks the link used at at and forgets its token.
func (t *Tx) UseLink(ctx context.Context, id string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sign_in_links SET used_at = $2 WHERE id = $1`, id, at); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `DELETE FROM sign_in_link_digests WHERE link_id = $1`, id)
	return err
}

// LinkByDigest finds the account and id of the link whose current token has digest; ok is false
// when none has.
func (s *Store) LinkByDigest(ctx context.Context, digest []byte) (accountID, linkID string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT account_id::text, link_id::text FROM sign_in_link_digests WHERE digest = $1`, digest).
		Scan(&accountID, &linkID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	return accountID, linkID, err == nil, err
}
