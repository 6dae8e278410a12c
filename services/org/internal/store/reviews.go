package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

const reviewColumns = `r.id::text, r.organization_id::text, r.title, coalesce(r.engineer_id::text, ''),
	coalesce(to_char(r.engineer_due_date, 'YYYY-MM-DD'), ''), coalesce(r.vcio_id::text, ''),
	coalesce(to_char(r.vcio_due_date, 'YYYY-MM-DD'), ''), r.status, r.created_at, r.updated_at`

func scanReview(row pgx.Row) (domain.Review, error) {
	var r domain.Review
	err := row.Scan(&r.ID, &r.OrganizationID, &r.Title, &r.EngineerID, &r.EngineerDueDate, &r.VCIOID, &r.VCIODueDate,
		&r.Status, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// reviewErr explains failed review writes in terms of the request.
func reviewErr(err error) error {
	switch postgres.ConstraintName(err) {
	case "reviews_account_id_engineer_id_fkey":
		return apperr.Invalid("engineer_id", "is not a user of this account")
	case "reviews_account_id_vcio_id_fkey":
		return apperr.Invalid("vcio_id", "is not a user of this account")
	}
	// The domain checks dates first; this covers whatever calendar rule it and Postgres disagree on.
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) && (pe.SQLState() == "22008" || pe.SQLState() == "22007") {
		return domain.ErrBadDueDate
	}
	return postgres.Translate(err)
}

func (t *Tx) readReview(ctx context.Context, vis domain.Visibility, reviewID string, lock bool) (domain.Review, error) {
	q := `SELECT ` + reviewColumns + ` FROM reviews r JOIN organizations o ON o.id = r.organization_id
		WHERE r.id = $1 AND ` + visibleSQL("$2", "$3")
	if lock {
		q += ` FOR UPDATE OF r`
	}
	r, err := scanReview(t.tx.QueryRow(ctx, q, reviewID, vis.Restricted, vis.Groups))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Review{}, domain.ErrReviewNotFound
	}
	return r, err
}

// Review reads a review of an organization vis may see; any other is domain.ErrReviewNotFound.
func (t *Tx) Review(ctx context.Context, vis domain.Visibility, reviewID string) (domain.Review, error) {
	return t.readReview(ctx, vis, reviewID, false)
}

// LockReview is Review with a row lock held until the transaction ends, for a change.
func (t *Tx) LockReview(ctx context.Context, vis domain.Visibility, reviewID string) (domain.Review, error) {
	return t.readReview(ctx, vis, reviewID, true)
}

// InactiveAssignees locks the users of ids (ignoring "") against a change until the transaction
// ends, in id order so that any two transactions lock them in the same order, and returns those
// that are inactive: a deactivation committing between the check and the assignment would
// otherwise assign an inactive user anyway.
func (t *Tx) InactiveAssignees(ctx context.Context, ids ...string) (map[string]bool, error) {
	var want []string
	for _, id := range ids {
		if id != "" {
			want = append(want, id)
		}
	}
	inactive := map[string]bool{}
	if len(want) == 0 {
		return inactive, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT id::text, active FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE`, want)
	if err != nil {
		return nil, postgres.Translate(err)
	}
	var id string
	var active bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &active}, func() error {
		if !active {
			inactive[id] = true
		}
		return nil
	}); err != nil {
		return nil, postgres.Translate(err)
	}
	return inactive, nil
}

// InsertReview creates r, created at now, and returns it as stored.
func (t *Tx) InsertReview(ctx context.Context, accountID string, r domain.Review, now time.Time) (domain.Review, error) {
	out, err := scanReview(t.tx.QueryRow(ctx, `INSERT INTO reviews AS r (account_id, organization_id, title, engineer_id,
				engineer_due_date, vcio_id, vcio_due_date, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5::date, $6, $7::date, $8, $9, $9) RETURNING `+reviewColumns,
		accountID, r.OrganizationID, r.Title, nullable(r.EngineerID), nullable(r.EngineerDueDate),
		nullable(r.VCIOID), nullable(r.VCIODueDate), int16(r.Status), now))
	if err != nil {
		return domain.Review{}, reviewErr(err)
	}
	return out, nil
}

// ReviewFilter narrows a list of reviews: to one organization, to one assignee (its engineer or
// its vCIO); "" leaves a side open.
type ReviewFilter struct {
	OrganizationID string
	AssigneeID     string
}

// ListReviews reads up to limit reviews of organizations vis may see, as f narrows them, newest
// first, after the review afterID unless "".
func (t *Tx) ListReviews(ctx context.Context, vis domain.Visibility, f ReviewFilter, afterID string, limit int) ([]domain.Review, error) {
	where := visibleSQL("$1", "$2") + ` AND ($3 = '' OR r.organization_id = $3::uuid)
			AND ($4 = '' OR (r.created_at, r.id) < (SELECT created_at, id FROM reviews WHERE id = $4::uuid))`
	args := []any{vis.Restricted, vis.Groups, f.OrganizationID, afterID, limit}
	if f.AssigneeID != "" {
		// Spelt out only when asked, so that the plan can use the assignee indexes.
		where += ` AND (r.engineer_id = $6::uuid OR r.vcio_id = $6::uuid)`
		args = append(args, f.AssigneeID)
	}
	rows, err := t.tx.Query(ctx, `SELECT `+reviewColumns+` FROM reviews r JOIN organizations o ON o.id = r.organization_id
			WHERE `+where+` ORDER BY r.created_at DESC, r.id DESC LIMIT $5`, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Review, error) { return scanReview(r) })
	if err != nil {
		return nil, reviewErr(err)
	}
	return out, nil
}

// UpdateReviewAssignment writes r's assignees and due dates, updated at now, and returns the
// review as stored.
func (t *Tx) UpdateReviewAssignment(ctx context.Context, r domain.Review, now time.Time) (domain.Review, error) {
	out, err := scanReview(t.tx.QueryRow(ctx, `UPDATE reviews r SET engineer_id = $2, engineer_due_date = $3::date,
				vcio_id = $4, vcio_due_date = $5::date, updated_at = $6 WHERE id = $1 RETURNING `+reviewColumns,
		r.ID, nullable(r.EngineerID), nullable(r.EngineerDueDate), nullable(r.VCIOID), nullable(r.VCIODueDate), now))
	if err != nil {
		return domain.Review{}, reviewErr(err)
	}
	return out, nil
}
