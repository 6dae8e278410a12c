package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// A revoked key whose role was deleted since has none ("").
const keyColumns = `id::text, name, prefix, coalesce(role_id::text, ''), coalesce(user_id::text, ''), coalesce(owner_user_id::text, ''),
	created_at, last_used_at, revoked_at`

func scanKey(row pgx.Row) (domain.APIKey, error) {
	var k domain.APIKey
	var used, revoked *time.Time
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.RoleID, &k.UserID, &k.OwnerID, &k.Created, &used, &revoked); err != nil {
		return domain.APIKey{}, err
	}
	if used != nil {
		k.LastUsed = *used
	}
	if revoked != nil {
		k.Revoked = *revoked
	}
	return k, nil
}

// InsertAPIKey adds key k, with its owner (k.Owner()) and its secret's prefix, and the secret's
// digest to the lookup table that authentication starts from.
func (t *Tx) InsertAPIKey(ctx context.Context, accountID string, k domain.APIKey, secret string) (domain.APIKey, error) {
	out, err := scanKey(t.tx.QueryRow(ctx, `INSERT INTO api_keys (account_id, name, prefix, role_id, user_id, owner_user_id)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+keyColumns,
		accountID, k.Name, domain.APIKeyPrefix(secret), k.RoleID, nullable(k.UserID), nullable(k.Owner())))
	if err != nil {
		switch postgres.ConstraintName(err) {
		case "api_keys_account_id_role_id_fkey":
			return domain.APIKey{}, apperr.Invalid("api_key.role_id", "is not a role of this account")
		case "api_keys_account_id_user_id_fkey":
			return domain.APIKey{}, apperr.Invalid("api_key.user_id", "is not a user of this account")
		case "api_keys_account_id_owner_user_id_fkey":
			// The owner comes from the caller, never from the request: its absence is a fault.
			return domain.APIKey{}, fmt.Errorf("owner of a new key: %w", err)
		}
		return domain.APIKey{}, postgres.Translate(err)
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO api_key_digests (digest, account_id, api_key_id) VALUES ($1, $2, $3)`,
		domain.APIKeyDigest(secret), accountID, out.ID); err != nil {
		return domain.APIKey{}, err
	}
	return out, nil
}

// APIKeyPosition is a key's place in the newest-first list: by creation time, then id, both
// descending.
type APIKeyPosition struct {
	Created time.Time `json:"t"`
	ID      string    `json:"i"`
}

// APIKeys reads up to limit of the account's keys, newest first, after the position after (nil:
// from the start).
func (t *Tx) APIKeys(ctx context.Context, after *APIKeyPosition, limit int) ([]domain.APIKey, error) {
	// The id descends with the time, so that one row comparison continues the order.
	cond, args := "true", []any{limit}
	if after != nil {
		cond = `(created_at, id) < ($2, $3::uuid)`
		args = append(args, after.Created, after.ID)
	}
	rows, err := t.tx.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE `+cond+` ORDER BY created_at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.APIKey, error) { return scanKey(r) })
}

// RevokeAPIKey revokes a key at (a revoked key keeps its first revocation time).
func (t *Tx) RevokeAPIKey(ctx context.Context, id string, at time.Time) (domain.APIKey, error) {
	k, err := scanKey(t.tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING `+keyColumns, id, at))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.APIKey{}, domain.ErrAPIKeyNotFound
	}
	return k, err
}

// KeyPeople returns the user key id acts as and its owner ("" for none). A key that is not there
// (revoked keys are there) is domain.ErrBadCredential.
func (t *Tx) KeyPeople(ctx context.Context, id string) (user, owner string, err error) {
	// id::text: the id comes from the caller's identity, which a malformed one must not turn
	// into a cast error.
	err = t.tx.QueryRow(ctx, `SELECT coalesce(user_id::text, ''), coalesce(owner_user_id::text, '') FROM api_keys WHERE id::text = $1`,
		id).Scan(&user, &owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", domain.ErrBadCredential
	}
	return user, owner, err
}

// RecordAPIKeyUse sets when a key was last used.
func (t *Tx) RecordAPIKeyUse(ctx context.Context, id string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, id, at)
	return err
}

// AuthenticateAPIKey finds what the key with digest grants, with the user it acts as and its
// owner as they are now; domain.ErrBadCredential when no valid key has it.
//
// Every REST request passes here, so it takes one round trip, outside Tx on purpose: a
// pipelined batch runs as one implicit transaction, in which the first statement scopes it to
// the key's account (found by digest, in the table outside row-level security) and the second
// reads the key, its user and its owner (with their roles) under that scope in one statement. docs/benchmarks.md measured the difference.
func (s *Store) AuthenticateAPIKey(ctx context.Context, digest []byte) (domain.KeyGrant, error) {
	batch := &pgx.Batch{}
	batch.Queue(`SELECT set_config('app.account_id', coalesce((SELECT account_id::text FROM api_key_digests WHERE digest = $1), ''), true)`, digest)
	batch.Queue(`SELECT k.account_id::text, k.id::text, r.permissions, k.last_used_at,
			coalesce(k.user_id::text, ''), u.active, u.all_organizations, urole.permissions,
			coalesce((SELECT array_agg(g.group_id::text) FROM user_groups g WHERE g.user_id = k.user_id), '{}'),
			coalesce(k.owner_user_id::text, ''), o.active, o.all_organizations, orole.permissions,
			coalesce((SELECT array_agg(g.group_id::text) FROM user_groups g WHERE g.user_id = k.owner_user_id), '{}')
		FROM api_keys k JOIN roles r ON r.id = k.role_id
			LEFT JOIN users u ON u.id = k.user_id LEFT JOIN roles urole ON urole.id = u.role_id
			LEFT JOIN users o ON o.id = k.owner_user_id LEFT JOIN roles orole ON orole.id = o.role_id
		WHERE k.id = (SELECT api_key_id FROM api_key_digests WHERE digest = $1) AND k.revoked_at IS NULL`, digest)
	var g domain.KeyGrant
	var perms, userPerms, ownerPerms []byte
	var lastUsed *time.Time
	var user, owner keyUserRow
	br := s.pool.SendBatch(ctx, batch)
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&g.AccountID, &g.APIKeyID, &perms, &lastUsed,
			&user.id, &user.active, &user.allOrgs, &userPerms, &user.groups,
			&owner.id, &owner.active, &owner.allOrgs, &ownerPerms, &owner.groups)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.KeyGrant{}, domain.ErrBadCredential
	}
	if err != nil {
		return domain.KeyGrant{}, err
	}
	if err := json.Unmarshal(perms, &g.Levels); err != nil {
		return domain.KeyGrant{}, err
	}
	if g.User, err = user.keyUser(userPerms); err != nil {
		return domain.KeyGrant{}, err
	}
	if g.Owner, err = owner.keyUser(ownerPerms); err != nil {
		return domain.KeyGrant{}, err
	}
	if lastUsed != nil {
		g.LastUsed = *lastUsed
	}
	return g, nil
}

// keyUserRow is a user joined to a key (LEFT JOIN: NULL columns when the key has none).
type keyUserRow struct {
	id      string
	active  *bool
	allOrgs *bool
	groups  []string
}

// keyUser is the row as the domain sees it: nil when the key names no user. A key naming a user
// the join did not find is refused rather than read as naming none: a user must never be
// dropped silently, which would lift the key's bound.
func (r keyUserRow) keyUser(perms []byte) (*domain.KeyUser, error) {
	if r.id == "" {
		return nil, nil
	}
	if r.active == nil || perms == nil {
		return nil, domain.ErrBadCredential
	}
	u := &domain.KeyUser{ID: r.id, Active: *r.active, AllOrganizations: r.allOrgs != nil && *r.allOrgs, GroupIDs: r.groups}
	if err := json.Unmarshal(perms, &u.Levels); err != nil {
		return nil, err
	}
	return u, nil
}
