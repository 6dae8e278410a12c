package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// A role's permissions are stored as the JSON of domain.Levels: {"area": level number}.

func scanRole(row pgx.Row) (domain.Role, error) {
	var r domain.Role
	var perms []byte
	if err := row.Scan(&r.ID, &r.Name, &r.Builtin, &perms); err != nil {
		return domain.Role{}, err
	}
	if err := json.Unmarshal(perms, &r.Levels); err != nil {
		return domain.Role{}, fmt.Errorf("role %s permissions: %w", r.ID, err)
	}
	return r, nil
}

func roleErr(err error) error {
	if postgres.ConstraintName(err) == "roles_name" {
		return apperr.Conflict("a role with this name already exists")
	}
	return postgres.Translate(err)
}

// SeedRoles writes the built-in roles of a new account and returns their ids by kind.
func (t *Tx) SeedRoles(ctx context.Context, accountID string, roles []domain.BuiltinRoleSeed) (map[domain.BuiltinRole]string, error) {
	ids := make(map[domain.BuiltinRole]string, len(roles))
	for _, r := range roles {
		perms, err := json.Marshal(r.Levels)
		if err != nil {
			return nil, err
		}
		var id string
		if err := t.tx.QueryRow(ctx, `INSERT INTO roles (account_id, name, builtin, permissions) VALUES ($1, $2, $3, $4) RETURNING id::text`,
			accountID, r.Name, int16(r.Kind), perms).Scan(&id); err != nil {
			return nil, err
		}
		ids[r.Kind] = id
	}
	return ids, nil
}

// BuiltinRoleID returns the id of the account's built-in role kind.
func (t *Tx) BuiltinRoleID(ctx context.Context, kind domain.BuiltinRole) (string, error) {
	var id string
	err := t.tx.QueryRow(ctx, `SELECT id::text FROM roles WHERE builtin = $1`, int16(kind)).Scan(&id)
	return id, err
}

// InsertRole adds a custom role.
func (t *Tx) InsertRole(ctx context.Context, accountID string, r domain.Role) (domain.Role, error) {
	perms, err := json.Marshal(r.Levels)
	if err != nil {
		return domain.Role{}, err
	}
	out, err := scanRole(t.tx.QueryRow(ctx, `INSERT INTO roles (account_id, name, permissions) VALUES ($1, $2, $3)
			RETURNING id::text, name, builtin, permissions`, accountID, r.Name, perms))
	return out, roleErr(err)
}

// RolePosition is a role's place in the list: built-in ones first in their fixed order, then
// custom ones by name regardless of case, then id.
type RolePosition struct {
	Builtin domain.BuiltinRole `json:"b"`
	Name    string             `json:"n"`
	ID      string             `json:"i"`
}

// Roles reads up to limit of the account's roles, built-in first, after the position after (nil:
// from the start).
func (t *Tx) Roles(ctx context.Context, after *RolePosition, limit int) ([]domain.Role, error) {
	// The comparison spells each key as ORDER BY does (lower() of both sides under the same
	// collation), so a page continues exactly where the order says the last one ended.
	cond, args := "true", []any{limit}
	if after != nil {
		cond = `(builtin = 0, builtin, lower(name), id) > ($2::smallint = 0, $2::smallint, lower($3::text), $4::uuid)`
		args = append(args, int16(after.Builtin), after.Name, after.ID)
	}
	rows, err := t.tx.Query(ctx, `SELECT id::text, name, builtin, permissions FROM roles WHERE `+cond+`
			ORDER BY builtin = 0, builtin, lower(name), id LIMIT $1`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Role, error) { return scanRole(r) })
}

// RoleForUpdate reads a role and locks it until the transaction ends.
func (t *Tx) RoleForUpdate(ctx context.Context, id string) (domain.Role, error) {
	r, err := scanRole(t.tx.QueryRow(ctx, `SELECT id::text, name, builtin, permissions FROM roles WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Role{}, domain.ErrRoleNotFound
	}
	return r, err
}

// UpdateRole writes a role's name and permissions.
func (t *Tx) UpdateRole(ctx context.Context, r domain.Role) (domain.Role, error) {
	perms, err := json.Marshal(r.Levels)
	if err != nil {
		return domain.Role{}, err
	}
	out, err := scanRole(t.tx.QueryRow(ctx, `UPDATE roles SET name = $2, permissions = $3 WHERE id = $1
			RETURNING id::text, name, builtin, permissions`, r.ID, r.Name, perms))
	return out, roleErr(err)
}

// RoleToGrant reads role id about to be handed out (to a user or a key) and keeps its
// permissions from changing until the transaction ends, so the grant checked is the grant given.
func (t *Tx) RoleToGrant(ctx context.Context, id string) (domain.Role, error) {
	r, err := scanRole(t.tx.QueryRow(ctx, `SELECT id::text, name, builtin, permissions FROM roles WHERE id = $1 FOR SHARE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Role{}, domain.ErrRoleNotFound
	}
	return r, err
}

// RoleHolders counts what holds role id: its users (deactivated ones and those with a pending
// invitation among them), its valid API keys, and single sign-on's default role.
func (t *Tx) RoleHolders(ctx context.Context, id string) (domain.RoleHolders, error) {
	var h domain.RoleHolders
	err := t.tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM users WHERE role_id = $1),
			(SELECT count(*) FROM users WHERE role_id = $1 AND NOT active),
			(SELECT count(*) FROM users u WHERE u.role_id = $1 AND EXISTS (SELECT 1 FROM sign_in_links l
				WHERE l.user_id = u.id AND l.kind = 1 AND l.used_at IS NULL AND l.closed_at IS NULL)),
			(SELECT count(*) FROM api_keys WHERE role_id = $1 AND revoked_at IS NULL),
			EXISTS (SELECT 1 FROM sso_providers WHERE default_role_id = $1)`, id).
		Scan(&h.Users, &h.Deactivated, &h.Invited, &h.APIKeys, &h.SingleSignOnDefault)
	return h, err
}

// errRoleHeld is a deletion the constraints refused because something still held the role.
// DeleteRole's caller counts the holders under the role's lock first, so it is not expected;
// should it happen, it is the same refusal, without the counts.
var errRoleHeld = &apperr.Error{Kind: apperr.KindConflict, Reason: domain.ReasonRoleInUse,
	Message: "the role is still held by users or API keys: give them another role before deleting it"}

// DeleteRole deletes role id; revoked API keys that had it are left without a role.
func (t *Tx) DeleteRole(ctx context.Context, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM roles WHERE id = $1`, id)
	switch postgres.ConstraintName(err) {
	case "users_account_id_role_id_fkey", "api_keys_valid_key_has_role":
		return errRoleHeld.Wrap(err)
	}
	if err != nil {
		return postgres.Translate(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.ErrRoleNotFound
	}
	return nil
}
