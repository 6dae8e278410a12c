package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

const userColumns = `u.id::text, u.first_name, u.last_name, u.email, u.role_id::text, u.active, u.all_organizations,
	u.email_review_assigned, u.email_review_created, u.created_at, u.updated_at,
	coalesce((SELECT array_agg(g.group_id::text ORDER BY g.group_id) FROM user_groups g WHERE g.user_id = u.id), '{}')`

func scanUser(row pgx.Row) (domain.User, error) {
	var u domain.User
	err := row.Scan(&u.ID, &u.FirstName, &u.LastName, &u.Email, &u.RoleID, &u.Active, &u.AllOrganizations,
		&u.EmailPreferences.ReviewAssigned, &u.EmailPreferences.ReviewCreated, &u.Created, &u.Updated, &u.GroupIDs)
	return u, err
}

// User reads a user.
func (t *Tx) User(ctx context.Context, id string) (domain.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.User{}, domain.ErrUserNotFound
	}
	return u, err
}

// userRefErr explains a constraint failure on a user write; field is the request field of the
// user ("user", "administrator").
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

// InsertUser adds u (its role set) and returns it as stored; field names u in errors.
func (t *Tx) InsertUser(ctx context.Context, accountID string, u domain.NewUser, field string) (domain.User, error) {
	prefs := u.Preferences()
	var id string
	err := t.tx.QueryRow(ctx, `INSERT INTO users (account_id, first_name, last_name, email, role_id, all_organizations,
			email_review_assigned, email_review_created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
		accountID, u.FirstName, u.LastName, u.Email, u.RoleID, u.AllOrganizations,
		prefs.ReviewAssigned, prefs.ReviewCreated).Scan(&id)
	if err != nil {
		return domain.User{}, userRefErr(err, field)
	}
	if err := t.setUserGroups(ctx, accountID, id, u.GroupIDs, field); err != nil {
		return domain.User{}, err
	}
	if err := t.setEmailDigest(ctx, accountID, id, u.Email); err != nil {
		return domain.User{}, err
	}
	return t.User(ctx, id)
}

func (t *Tx) setUserGroups(ctx context.Context, accountID, userID string, groups []string, field string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM user_groups WHERE user_id = $1`, userID); err != nil {
		return err
	}
	if len(groups) == 0 {
		return nil
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO user_groups (account_id, user_id, group_id) SELECT $1, $2, unnest($3::uuid[])`,
		accountID, userID, groups)
	return userRefErr(err, field)
}

// Users lists at most limit users by last name, first name and id, only those whose first name,
// last name or email contains query regardless of case (every user for ""); a page after the
// first continues after the user afterID.
func (t *Tx) Users(ctx context.Context, query, afterID string, limit int) ([]domain.User, error) {
	// An account has hundreds of users, not hundreds of thousands: a scan of its rows is cheap,
	// and under the tenant policy no trigram index could serve ILIKE anyway (migration 00008).
	rows, err := t.tx.Query(ctx, `SELECT `+userColumns+` FROM users u
		WHERE ($1::text = '' OR (u.last_name, u.first_name, u.id) > (SELECT last_name, first_name, id FROM users WHERE id = nullif($1, '')::uuid))
		AND ($3::text = '' OR u.first_name ILIKE '%' || $3 || '%' OR u.last_name ILIKE '%' || $3 || '%' OR u.email ILIKE '%' || $3 || '%')
		ORDER BY u.last_name, u.first_name, u.id LIMIT $2`, afterID, limit, postgres.EscapeLike(query))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.User, error) { return scanUser(r) })
}

// UpdateUser writes the fields of c named in paths, then stamps the user as changed.
func (t *Tx) UpdateUser(ctx context.Context, accountID string, c domain.UserChange, paths []string) error {
	for _, p := range paths {
		var err error
		switch p {
		case "first_name":
			_, err = t.tx.Exec(ctx, `UPDATE users SET first_name = $2 WHERE id = $1`, c.ID, c.FirstName)
		case "last_name":
			_, err = t.tx.Exec(ctx, `UPDATE users SET last_name = $2 WHERE id = $1`, c.ID, c.LastName)
		case "email":
			_, err = t.tx.Exec(ctx, `UPDATE users SET email = $2 WHERE id = $1`, c.ID, c.Email)
			if err == nil {
				err = t.setEmailDigest(ctx, accountID, c.ID, c.Email)
			}
		case "role_id":
			_, err = t.tx.Exec(ctx, `UPDATE users SET role_id = $2 WHERE id = $1`, c.ID, c.RoleID)
		case "all_organizations":
			_, err = t.tx.Exec(ctx, `UPDATE users SET all_organizations = $2 WHERE id = $1`, c.ID, c.AllOrganizations)
		case "group_ids":
			err = t.setUserGroups(ctx, accountID, c.ID, c.GroupIDs, "user")
		case "email_preferences":
			_, err = t.tx.Exec(ctx, `UPDATE users SET email_review_assigned = $2, email_review_created = $3 WHERE id = $1`,
				c.ID, c.EmailPreferences.ReviewAssigned, c.EmailPreferences.ReviewCreated)
		case "email_preferences.review_assigned":
			_, err = t.tx.Exec(ctx, `UPDATE users SET email_review_assigned = $2 WHERE id = $1`, c.ID, c.EmailPreferences.ReviewAssigned)
		case "email_preferences.review_created":
			_, err = t.tx.Exec(ctx, `UPDATE users SET email_review_created = $2 WHERE id = $1`, c.ID, c.EmailPreferences.ReviewCreated)
		case "set_active":
			_, err = t.tx.Exec(ctx, `UPDATE users SET active = $2 WHERE id = $1`, c.ID, c.SetActive)
		}
		if err != nil {
			return userRefErr(err, "user")
		}
	}
	_, err := t.tx.Exec(ctx, `UPDATE users SET updated_at = now() WHERE id = $1`, c.ID)
	return err
}

// UsersExist reports whether every id names a user of the account.
func (t *Tx) UsersExist(ctx context.Context, ids []string) (bool, error) {
	var n int
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = ANY($1::uuid[])`, ids).Scan(&n); err != nil {
		return false, err
	}
	return n == len(ids), nil
}

// UserForUpdate is User with the user locked until the transaction ends, for a change of its
// role or scope checked against what it holds.
func (t *Tx) UserForUpdate(ctx context.Context, id string) (domain.User, error) {
	return t.lockedUser(ctx, id, "UPDATE")
}

// UserToGrant is User with the user kept from changing until the transaction ends, for a key
// about to see what the user sees.
func (t *Tx) UserToGrant(ctx context.Context, id string) (domain.User, error) {
	return t.lockedUser(ctx, id, "SHARE")
}

func (t *Tx) lockedUser(ctx context.Context, id, mode string) (domain.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1 FOR `+mode+` OF u`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.User{}, domain.ErrUserNotFound
	}
	return u, err
}
