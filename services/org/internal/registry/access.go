package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
)

func requireUserFields(u *orgv1.User, field string) error {
	switch {
	case u.GetFirstName() == "":
		return apperr.Invalid(field+".first_name", "is required")
	case u.GetLastName() == "":
		return apperr.Invalid(field+".last_name", "is required")
	case u.GetEmail() == "":
		return apperr.Invalid(field+".email", "is required")
	}
	return nil
}

const userColumns = `u.id::text, u.first_name, u.last_name, u.email, u.role_id::text, u.active, u.all_organizations,
	u.email_review_assigned, u.email_review_created, u.created_at, u.updated_at,
	coalesce((SELECT array_agg(g.group_id::text ORDER BY g.group_id) FROM user_groups g WHERE g.user_id = u.id), '{}')`

func scanUser(row pgx.Row) (*orgv1.User, error) {
	u := &orgv1.User{EmailPreferences: &orgv1.EmailPreferences{}}
	var created, updated time.Time
	err := row.Scan(&u.Id, &u.FirstName, &u.LastName, &u.Email, &u.RoleId, &u.Active, &u.AllOrganizations,
		&u.EmailPreferences.ReviewAssigned, &u.EmailPreferences.ReviewCreated, &created, &updated, &u.GroupIds)
	u.CreateTime, u.UpdateTime = timestamppb.New(created), timestamppb.New(updated)
	return u, err
}

func readUser(ctx context.Context, tx pgx.Tx, id string) (*orgv1.User, error) {
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrUserNotFound
	}
	return u, err
}

// userRefErr explains a foreign-key failure on a user write.
func userRefErr(err error, field string) error {
	switch postgres.ConstraintName(err) {
	case "users_account_id_role_id_fkey":
		return apperr.Invalid(field+".role_id", "is not a role of this account")
	case "users_email":
		return apperr.Conflict("a user with this email already exists")
	case "user_groups_account_id_group_id_fkey":
		return apperr.Invalid(field+".group_ids", "names a group that does not exist")
	}
	return postgres.Translate(err)
}

func insertUser(ctx context.Context, tx pgx.Tx, accountID string, u *orgv1.User, field string) (*orgv1.User, error) {
	prefs := u.GetEmailPreferences()
	if prefs == nil {
		prefs = &orgv1.EmailPreferences{ReviewAssigned: true}
	}
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO users (account_id, first_name, last_name, email, role_id, all_organizations,
			email_review_assigned, email_review_created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
		accountID, u.GetFirstName(), u.GetLastName(), u.GetEmail(), u.GetRoleId(), u.GetAllOrganizations(),
		prefs.GetReviewAssigned(), prefs.GetReviewCreated()).Scan(&id)
	if err != nil {
		return nil, userRefErr(err, field)
	}
	if err := setUserGroups(ctx, tx, accountID, id, u.GetGroupIds(), field); err != nil {
		return nil, err
	}
	return readUser(ctx, tx, id)
}

func setUserGroups(ctx context.Context, tx pgx.Tx, accountID, userID string, groups []string, field string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM user_groups WHERE user_id = $1`, userID); err != nil {
		return err
	}
	if len(groups) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO user_groups (account_id, user_id, group_id) SELECT $1, $2, unnest($3::uuid[])`,
		accountID, userID, groups)
	return userRefErr(err, field)
}

func builtinRoleID(ctx context.Context, tx pgx.Tx, kind orgv1.BuiltinRole) (string, error) {
	var id string
	err := tx.QueryRow(ctx, `SELECT id::text FROM roles WHERE builtin = $1`, int16(kind)).Scan(&id)
	return id, err
}

// CreateUser adds a user; the role defaults to Engineer.
func (s *Service) CreateUser(ctx context.Context, req *orgv1.CreateUserRequest) (*orgv1.User, error) {
	if _, err := caller(ctx, req.GetAccountId(), write(AreaUsers)); err != nil {
		return nil, err
	}
	if err := requireUserFields(req.GetUser(), "user"); err != nil {
		return nil, err
	}
	var out *orgv1.User
	err := s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		u := req.GetUser()
		if u.GetRoleId() == "" {
			id, err := builtinRoleID(ctx, tx, orgv1.BuiltinRole_BUILTIN_ROLE_ENGINEER)
			if err != nil {
				return err
			}
			u.RoleId = id
		}
		var err error
		if out, err = insertUser(ctx, tx, req.GetAccountId(), u, "user"); err != nil {
			return err
		}
		err = s.enqueue(ctx, tx, &orgv1.UserCreated{AccountId: req.GetAccountId(), User: out})
		return err
	})
	return out, err
}

// GetUser returns a user.
func (s *Service) GetUser(ctx context.Context, accountID, userID string) (*orgv1.User, error) {
	if _, err := caller(ctx, accountID, read(AreaUsers)); err != nil {
		return nil, err
	}
	var out *orgv1.User
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		out, err = readUser(ctx, tx, userID)
		return err
	})
	return out, err
}

// ListUsers lists users by last name, first name, id; the page token is the last user's id.
func (s *Service) ListUsers(ctx context.Context, accountID string, size int, afterID string) ([]*orgv1.User, error) {
	if _, err := caller(ctx, accountID, read(AreaUsers)); err != nil {
		return nil, err
	}
	var out []*orgv1.User
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users u
			WHERE $1::text = '' OR (u.last_name, u.first_name, u.id) > (SELECT last_name, first_name, id FROM users WHERE id = nullif($1, '')::uuid)
			ORDER BY u.last_name, u.first_name, u.id LIMIT $2`, afterID, size)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*orgv1.User, error) { return scanUser(r) })
		return err
	})
	return out, err
}

// UpdateUser changes the masked fields of a user.
func (s *Service) UpdateUser(ctx context.Context, req *orgv1.UpdateUserRequest) (*orgv1.User, error) {
	if _, err := caller(ctx, req.GetAccountId(), write(AreaUsers)); err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), "update_mask", "first_name", "last_name", "email", "role_id",
		"all_organizations", "group_ids", "email_preferences", "set_active")
	if err != nil {
		return nil, err
	}
	u := req.GetUser()
	for _, p := range paths {
		switch {
		case p == "first_name" && u.GetFirstName() == "":
			return nil, apperr.Invalid("user.first_name", "is required")
		case p == "last_name" && u.GetLastName() == "":
			return nil, apperr.Invalid("user.last_name", "is required")
		case p == "email" && u.GetEmail() == "":
			return nil, apperr.Invalid("user.email", "is required")
		case p == "role_id" && u.GetRoleId() == "":
			return nil, apperr.Invalid("user.role_id", "is required")
		}
	}
	if u.GetId() == "" {
		return nil, apperr.Invalid("user.id", "is required")
	}
	var out *orgv1.User
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		if _, err := readUser(ctx, tx, u.GetId()); err != nil {
			return err
		}
		for _, p := range paths {
			var err error
			switch p {
			case "first_name":
				_, err = tx.Exec(ctx, `UPDATE users SET first_name = $2 WHERE id = $1`, u.GetId(), u.GetFirstName())
			case "last_name":
				_, err = tx.Exec(ctx, `UPDATE users SET last_name = $2 WHERE id = $1`, u.GetId(), u.GetLastName())
			case "email":
				_, err = tx.Exec(ctx, `UPDATE users SET email = $2 WHERE id = $1`, u.GetId(), u.GetEmail())
			case "role_id":
				_, err = tx.Exec(ctx, `UPDATE users SET role_id = $2 WHERE id = $1`, u.GetId(), u.GetRoleId())
			case "all_organizations":
				_, err = tx.Exec(ctx, `UPDATE users SET all_organizations = $2 WHERE id = $1`, u.GetId(), u.GetAllOrganizations())
			case "group_ids":
				err = setUserGroups(ctx, tx, req.GetAccountId(), u.GetId(), u.GetGroupIds(), "user")
			case "email_preferences":
				_, err = tx.Exec(ctx, `UPDATE users SET email_review_assigned = $2, email_review_created = $3 WHERE id = $1`,
					u.GetId(), u.GetEmailPreferences().GetReviewAssigned(), u.GetEmailPreferences().GetReviewCreated())
			case "set_active":
				_, err = tx.Exec(ctx, `UPDATE users SET active = $2 WHERE id = $1`, u.GetId(), u.GetSetActive())
			}
			if err != nil {
				return userRefErr(err, "user")
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET updated_at = now() WHERE id = $1`, u.GetId()); err != nil {
			return err
		}
		var err error
		if out, err = readUser(ctx, tx, u.GetId()); err != nil {
			return err
		}
		err = s.enqueue(ctx, tx, &orgv1.UserUpdated{AccountId: req.GetAccountId(), User: out})
		return err
	})
	return out, err
}

// maskPaths checks an update mask against the fields that may change; "*" means all of them.
func maskPaths(m *fieldmaskpb.FieldMask, field string, allowed ...string) ([]string, error) {
	paths := m.GetPaths()
	if len(paths) == 1 && paths[0] == "*" {
		return allowed, nil
	}
	if len(paths) == 0 {
		return nil, apperr.Invalid(field, "names no field to change")
	}
	paths = slices.Clone(paths)
	for i, p := range paths {
		// REST callers name fields as they see them in JSON (lowerCamelCase).
		p = snakeCase(p)
		paths[i] = p
		if !slices.Contains(allowed, p) {
			return nil, apperr.Invalidf(field, "%q cannot be changed here (allowed: %v)", p, allowed)
		}
	}
	return paths, nil
}

func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func scanRole(row pgx.Row) (*orgv1.Role, error) {
	r := &orgv1.Role{}
	var builtin int16
	var perms []byte
	if err := row.Scan(&r.Id, &r.Name, &builtin, &perms); err != nil {
		return nil, err
	}
	var l Levels
	if err := json.Unmarshal(perms, &l); err != nil {
		return nil, fmt.Errorf("role %s permissions: %w", r.Id, err)
	}
	r.Builtin, r.Permissions = orgv1.BuiltinRole(builtin), l.proto()
	return r, nil
}

func roleErr(err error) error {
	if postgres.ConstraintName(err) == "roles_name" {
		return apperr.Conflict("a role with this name already exists")
	}
	return postgres.Translate(err)
}

// CreateRole creates a custom role.
func (s *Service) CreateRole(ctx context.Context, accountID string, r *orgv1.Role) (*orgv1.Role, error) {
	if _, err := caller(ctx, accountID, write(AreaRoles)); err != nil {
		return nil, err
	}
	if r.GetName() == "" {
		return nil, apperr.Invalid("role.name", "is required")
	}
	perms, _ := json.Marshal(levelsOf(r.GetPermissions()))
	var out *orgv1.Role
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		out, err = scanRole(tx.QueryRow(ctx, `INSERT INTO roles (account_id, name, permissions) VALUES ($1, $2, $3)
			RETURNING id::text, name, builtin, permissions`, accountID, r.GetName(), perms))
		return roleErr(err)
	})
	return out, err
}

// ListRoles lists the account's roles, built-in first.
func (s *Service) ListRoles(ctx context.Context, accountID string) ([]*orgv1.Role, error) {
	if _, err := caller(ctx, accountID, read(AreaRoles)); err != nil {
		return nil, err
	}
	var out []*orgv1.Role
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, name, builtin, permissions FROM roles
			ORDER BY builtin = 0, builtin, lower(name)`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*orgv1.Role, error) { return scanRole(r) })
		return err
	})
	return out, err
}

// UpdateRole changes a custom role's name or permissions.
func (s *Service) UpdateRole(ctx context.Context, req *orgv1.UpdateRoleRequest) (*orgv1.Role, error) {
	if _, err := caller(ctx, req.GetAccountId(), write(AreaRoles)); err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), "update_mask", "name", "permissions")
	if err != nil {
		return nil, err
	}
	r := req.GetRole()
	var out *orgv1.Role
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		cur, err := scanRole(tx.QueryRow(ctx, `SELECT id::text, name, builtin, permissions FROM roles WHERE id = $1 FOR UPDATE`, r.GetId()))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrRoleNotFound
		}
		if err != nil {
			return err
		}
		if cur.GetBuiltin() != orgv1.BuiltinRole_BUILTIN_ROLE_UNSPECIFIED {
			return apperr.FailedPrecondition("built-in roles cannot be changed; create a custom role instead")
		}
		for _, p := range paths {
			switch p {
			case "name":
				if r.GetName() == "" {
					return apperr.Invalid("role.name", "is required")
				}
				cur.Name = r.GetName()
			case "permissions":
				cur.Permissions = r.GetPermissions()
			}
		}
		perms, _ := json.Marshal(levelsOf(cur.GetPermissions()))
		out, err = scanRole(tx.QueryRow(ctx, `UPDATE roles SET name = $2, permissions = $3 WHERE id = $1
			RETURNING id::text, name, builtin, permissions`, cur.GetId(), cur.GetName(), perms))
		return roleErr(err)
	})
	return out, err
}

type createdKey struct {
	key    *orgv1.ApiKey
	secret string
}

func scanKey(row pgx.Row) (*orgv1.ApiKey, error) {
	k := &orgv1.ApiKey{}
	var created time.Time
	var used, revoked *time.Time
	if err := row.Scan(&k.Id, &k.Name, &k.Prefix, &k.RoleId, &k.UserId, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreateTime = timestamppb.New(created)
	if used != nil {
		k.LastUseTime = timestamppb.New(*used)
	}
	if revoked != nil {
		k.RevokeTime = timestamppb.New(*revoked)
	}
	return k, nil
}

const keyColumns = `id::text, name, prefix, role_id::text, coalesce(user_id::text, ''), created_at, last_used_at, revoked_at`

func insertAPIKey(ctx context.Context, tx pgx.Tx, accountID string, k *orgv1.ApiKey) (createdKey, error) {
	secret, digest := newAPIKey()
	var user *string
	if k.GetUserId() != "" {
		u := k.GetUserId()
		user = &u
	}
	out, err := scanKey(tx.QueryRow(ctx, `INSERT INTO api_keys (account_id, name, prefix, role_id, user_id)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+keyColumns, accountID, k.GetName(), secret[:12], k.GetRoleId(), user))
	if err != nil {
		switch postgres.ConstraintName(err) {
		case "api_keys_account_id_role_id_fkey":
			return createdKey{}, apperr.Invalid("api_key.role_id", "is not a role of this account")
		case "api_keys_account_id_user_id_fkey":
			return createdKey{}, apperr.Invalid("api_key.user_id", "is not a user of this account")
		}
		return createdKey{}, postgres.Translate(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO api_key_digests (digest, account_id, api_key_id) VALUES ($1, $2, $3)`,
		digest, accountID, out.GetId()); err != nil {
		return createdKey{}, err
	}
	return createdKey{key: out, secret: secret}, nil
}

// CreateAPIKey creates a key and returns it once.
func (s *Service) CreateAPIKey(ctx context.Context, accountID string, k *orgv1.ApiKey) (*orgv1.CreateApiKeyResponse, error) {
	if _, err := caller(ctx, accountID, write(AreaAPIKeys)); err != nil {
		return nil, err
	}
	if k.GetName() == "" {
		return nil, apperr.Invalid("api_key.name", "is required")
	}
	if k.GetRoleId() == "" {
		return nil, apperr.Invalid("api_key.role_id", "is required")
	}
	var out createdKey
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		out, err = insertAPIKey(ctx, tx, accountID, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &orgv1.CreateApiKeyResponse{ApiKey: out.key, Secret: out.secret}, nil
}

// ListAPIKeys lists the account's keys, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, accountID string) ([]*orgv1.ApiKey, error) {
	if _, err := caller(ctx, accountID, read(AreaAPIKeys)); err != nil {
		return nil, err
	}
	var out []*orgv1.ApiKey
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at DESC, id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*orgv1.ApiKey, error) { return scanKey(r) })
		return err
	})
	return out, err
}

// RevokeAPIKey revokes a key; the next request made with it is refused.
func (s *Service) RevokeAPIKey(ctx context.Context, accountID, keyID string) (*orgv1.ApiKey, error) {
	if _, err := caller(ctx, accountID, write(AreaAPIKeys)); err != nil {
		return nil, err
	}
	var out *orgv1.ApiKey
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		out, err = scanKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING `+keyColumns, keyID, s.now()))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrAPIKeyNotFound
		}
		return err
	})
	return out, err
}

// ErrBadCredential is all a caller learns about a refused key.
var ErrBadCredential = apperr.Unauthenticated("authentication required")

// AuthenticateAPIKey resolves a key to the identity it grants: its account, its role's
// permissions and, when it acts as a user, that user's organization groups. Only the gateway
// (a service identity) may ask.
func (s *Service) AuthenticateAPIKey(ctx context.Context, secret string) (*orgv1.AuthenticateApiKeyResponse, error) {
	id, ok := identity.From(ctx)
	if !ok || id.Kind != identity.KindService {
		return nil, apperr.PermissionDenied("only services may authenticate credentials")
	}
	// Every REST request passes here, so it is one round trip: a pipelined batch runs as one
	// implicit transaction, in which the first statement scopes it to the key's account (found by
	// digest) and the second reads the key under that scope.
	digest := digestOf(secret)
	batch := &pgx.Batch{}
	batch.Queue(`SELECT set_config('app.account_id', coalesce((SELECT account_id::text FROM api_key_digests WHERE digest = $1), ''), true)`, digest)
	batch.Queue(`SELECT k.account_id::text, k.id::text, r.permissions, coalesce(k.user_id::text, ''), u.active, u.all_organizations,
			coalesce((SELECT array_agg(g.group_id::text) FROM user_groups g WHERE g.user_id = k.user_id), '{}'), k.last_used_at
		FROM api_keys k JOIN roles r ON r.id = k.role_id LEFT JOIN users u ON u.id = k.user_id
		WHERE k.id = (SELECT api_key_id FROM api_key_digests WHERE digest = $1) AND k.revoked_at IS NULL`, digest)
	out := &orgv1.AuthenticateApiKeyResponse{}
	var perms []byte
	var userActive, allOrgs *bool
	var lastUsed *time.Time
	br := s.pool.SendBatch(ctx, batch)
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&out.AccountId, &out.ApiKeyId, &perms, &out.UserId, &userActive, &allOrgs, &out.GroupIds, &lastUsed)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && userActive != nil && !*userActive) {
		return nil, ErrBadCredential
	}
	if err != nil {
		return nil, err
	}
	var l Levels
	if err := json.Unmarshal(perms, &l); err != nil {
		return nil, err
	}
	out.Permissions = l.Grants()
	out.RestrictedToGroups = allOrgs != nil && !*allOrgs
	// last_used_at to the minute: a busy script must not turn every read into a write.
	if now := s.now(); lastUsed == nil || now.Sub(*lastUsed) > time.Minute {
		err := s.inTenant(ctx, out.GetAccountId(), func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, out.GetApiKeyId(), now)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if !out.RestrictedToGroups {
		out.GroupIds = nil
	}
	return out, nil
}
