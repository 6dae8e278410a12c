package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

// The copies of org's accounts, users and reviews. Each write keeps the later change: org's events
// of one account arrive in order, but a redelivered old one must not undo a newer one.

func orEmpty(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// AccountCreated records a new account.
func (t *Tx) AccountCreated(ctx context.Context, accountID, name string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO accounts (account_id, display_name, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET display_name = excluded.display_name`, accountID, name, at); err != nil {
		return fmt.Errorf("save account copy: %w", err)
	}
	return nil
}

// AccountSettingsChanged records an account's time zone, date format and org's recipient lists.
func (t *Tx) AccountSettingsChanged(ctx context.Context, a domain.Account, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO accounts (account_id, display_name, time_zone, date_format,
			ownership_recipient_ids, review_recipient_ids, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account_id) DO UPDATE SET time_zone = excluded.time_zone, date_format = excluded.date_format,
			ownership_recipient_ids = excluded.ownership_recipient_ids, review_recipient_ids = excluded.review_recipient_ids,
			display_name = CASE WHEN excluded.display_name <> '' THEN excluded.display_name ELSE accounts.display_name END,
			updated_at = excluded.updated_at
		WHERE accounts.updated_at <= excluded.updated_at`,
		a.ID, a.DisplayName, a.TimeZone, int16(a.DateFormat), orEmpty(a.OwnershipRecipientIDs), orEmpty(a.ReviewRecipientIDs), at); err != nil {
		return fmt.Errorf("save account settings copy: %w", err)
	}
	return nil
}

// Account reads the tenant's account; one the service has not heard of reads as UTC and the
// default date format, with no recipients.
func (t *Tx) Account(ctx context.Context, accountID string) (domain.Account, error) {
	a := domain.Account{ID: accountID, TimeZone: "UTC"}
	err := t.tx.QueryRow(ctx, `SELECT display_name, time_zone, date_format, ownership_recipient_ids::text[], review_recipient_ids::text[]
		FROM accounts WHERE account_id = $1`, accountID).Scan(&a.DisplayName, &a.TimeZone, &a.DateFormat,
		&a.OwnershipRecipientIDs, &a.ReviewRecipientIDs)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("read account copy: %w", err)
	}
	return a, nil
}

// UserChanged records a user as org last described it.
func (t *Tx) UserChanged(ctx context.Context, accountID string, u domain.User, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO users (account_id, id, email, first_name, last_name, active, administrator,
			all_organizations, group_ids, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name, last_name = excluded.last_name,
			active = excluded.active, administrator = excluded.administrator, all_organizations = excluded.all_organizations,
			group_ids = excluded.group_ids, updated_at = excluded.updated_at
		WHERE users.updated_at <= excluded.updated_at`,
		accountID, u.ID, u.Email, u.FirstName, u.LastName, u.Active, u.Administrator, u.AllOrganizations, orEmpty(u.GroupIDs), at); err != nil {
		return fmt.Errorf("save user copy: %w", err)
	}
	return nil
}

// Users reads the tenant's users among ids, by id.
func (t *Tx) Users(ctx context.Context, ids []string) (map[string]domain.User, error) {
	out := map[string]domain.User{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT id::text, email, first_name, last_name, active, administrator, all_organizations, group_ids::text[]
		FROM users WHERE id = ANY($1::uuid[])`, validUUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.User, error) {
		var u domain.User
		err := r.Scan(&u.ID, &u.Email, &u.FirstName, &u.LastName, &u.Active, &u.Administrator, &u.AllOrganizations, &u.GroupIDs)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	for _, u := range list {
		out[u.ID] = u
	}
	return out, nil
}

// Administrators lists the tenant's active administrators.
func (t *Tx) Administrators(ctx context.Context) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT id::text FROM users WHERE administrator AND active ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read administrators: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read administrators: %w", err)
	}
	return ids, nil
}

const reviewColumns = `id::text, organization_id::text, organization_name, organization_group_ids::text[], title,
	coalesce(engineer_id::text, ''), coalesce(vcio_id::text, ''), edited_at`

func scanReview(r pgx.Row) (domain.Review, error) {
	var v domain.Review
	err := r.Scan(&v.ID, &v.OrganizationID, &v.OrganizationName, &v.OrganizationGroupIDs, &v.Title, &v.EngineerID, &v.VCIOID, &v.EditedAt)
	return v, err
}

// validUUIDs keeps the ids that are UUIDs: an id no row can have must not fail the query.
func validUUIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if uuid.Validate(id) == nil {
			out = append(out, id)
		}
	}
	return out
}

func nullUUID(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ReviewChanged records a review as an event describes it: a new review, or a changed
// assignment (role "engineer" or "vcio", the other assignment left as it is). It reports whether
// the change is the latest the service knows of (false: an older event, ignored).
func (t *Tx) ReviewChanged(ctx context.Context, accountID string, v domain.Review, role string) (bool, error) {
	var set string
	switch role {
	case "":
		set = `engineer_id = excluded.engineer_id, vcio_id = excluded.vcio_id`
	case "engineer":
		set = `engineer_id = excluded.engineer_id`
	case "vcio":
		set = `vcio_id = excluded.vcio_id`
	default:
		return false, fmt.Errorf("review change of unknown role %q", role)
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO reviews (account_id, id, organization_id, organization_name, organization_group_ids, title,
			engineer_id, vcio_id, edited_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET organization_name = excluded.organization_name,
			organization_group_ids = excluded.organization_group_ids, title = excluded.title, edited_at = excluded.edited_at, `+set+`
		WHERE reviews.edited_at <= excluded.edited_at`,
		accountID, v.ID, v.OrganizationID, v.OrganizationName, orEmpty(v.OrganizationGroupIDs), v.Title,
		nullUUID(v.EngineerID), nullUUID(v.VCIOID), v.EditedAt)
	if err != nil {
		return false, fmt.Errorf("save review copy: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Review reads a review's copy, locked for the reminder that reads it; false when there is none.
func (t *Tx) Review(ctx context.Context, id string) (domain.Review, bool, error) {
	v, err := scanReview(t.tx.QueryRow(ctx, `SELECT `+reviewColumns+` FROM reviews WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("read review copy: %w", err)
	}
	return v, true, nil
}

// RemindedFor reports the edit a review's last reminder was for (zero: none).
func (t *Tx) RemindedFor(ctx context.Context, id string) (time.Time, error) {
	var at *time.Time
	if err := t.tx.QueryRow(ctx, `SELECT reminded_for FROM reviews WHERE id = $1`, id).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("read review reminder: %w", err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}

// OrganizationChanged updates the name and groups the copies of its reviews carry.
func (t *Tx) OrganizationChanged(ctx context.Context, organizationID, name string, groups []string) error {
	if _, err := t.tx.Exec(ctx, `UPDATE reviews SET organization_name = $2, organization_group_ids = $3 WHERE organization_id = $1`,
		organizationID, name, orEmpty(groups)); err != nil {
		return fmt.Errorf("update reviews' organization: %w", err)
	}
	return nil
}

// OrganizationDeleted forgets the organization's reviews and their reminders.
func (t *Tx) OrganizationDeleted(ctx context.Context, organizationID string) error {
	if _, err := t.tx.Exec(ctx, `WITH gone AS (DELETE FROM reviews WHERE organization_id = $1 RETURNING id)
		DELETE FROM reminder_queue WHERE review_id IN (SELECT id FROM gone)`, organizationID); err != nil {
		return fmt.Errorf("forget the organization's reviews: %w", err)
	}
	return nil
}
