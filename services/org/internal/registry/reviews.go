package registry

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
)

const reviewColumns = `r.id::text, r.organization_id::text, r.title, coalesce(r.engineer_id::text, ''),
	coalesce(to_char(r.engineer_due_date, 'YYYY-MM-DD'), ''), coalesce(r.vcio_id::text, ''),
	coalesce(to_char(r.vcio_due_date, 'YYYY-MM-DD'), ''), r.status, r.created_at, r.updated_at`

func scanReview(row pgx.Row) (*orgv1.Review, error) {
	r := &orgv1.Review{}
	var status int16
	var created, updated time.Time
	err := row.Scan(&r.Id, &r.OrganizationId, &r.Title, &r.EngineerId, &r.EngineerDueDate, &r.VcioId, &r.VcioDueDate,
		&status, &created, &updated)
	r.Status = orgv1.ReviewStatus(status)
	r.CreateTime, r.UpdateTime = timestamppb.New(created), timestamppb.New(updated)
	return r, err
}

// readReview reads a review of an organization the caller may see.
func readReview(ctx context.Context, tx pgx.Tx, id identity.Identity, reviewID string, lock bool) (*orgv1.Review, error) {
	restricted, groups := visibility(id)
	q := `SELECT ` + reviewColumns + ` FROM reviews r JOIN organizations o ON o.id = r.organization_id
		WHERE r.id = $1 AND ` + visibleSQL("$2", "$3")
	if lock {
		q += ` FOR UPDATE OF r`
	}
	r, err := scanReview(tx.QueryRow(ctx, q, reviewID, restricted, groups))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrReviewNotFound
	}
	return r, err
}

func reviewErr(err error) error {
	switch postgres.ConstraintName(err) {
	case "reviews_account_id_engineer_id_fkey":
		return apperr.Invalid("engineer_id", "is not a user of this account")
	case "reviews_account_id_vcio_id_fkey":
		return apperr.Invalid("vcio_id", "is not a user of this account")
	}
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) && (pe.SQLState() == "22008" || pe.SQLState() == "22007") {
		return apperr.Invalid("due_date", "is not a calendar date")
	}
	return postgres.Translate(err)
}

// CreateReview creates a review of an organization the caller may see. Missing assignees default
// to the organization's default engineer and vCIO.
func (s *Service) CreateReview(ctx context.Context, accountID string, in *orgv1.Review) (*orgv1.Review, error) {
	id, err := caller(ctx, accountID, write(AreaReviews))
	if err != nil {
		return nil, err
	}
	var out *orgv1.Review
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		org, err := readOrg(ctx, tx, id, in.GetOrganizationId(), false)
		if errors.Is(err, ErrOrganizationNotFound) {
			return apperr.Invalid("review.organization_id", "is not an organization of this account")
		}
		if err != nil {
			return err
		}
		if in.GetEngineerId() == "" {
			in.EngineerId = org.GetDefaultEngineerId()
		}
		if in.GetVcioId() == "" {
			in.VcioId = org.GetDefaultVcioId()
		}
		status := in.GetStatus()
		if status == orgv1.ReviewStatus_REVIEW_STATUS_UNSPECIFIED {
			status = orgv1.ReviewStatus_REVIEW_STATUS_NOT_STARTED
		}
		now := s.now()
		out, err = scanReview(tx.QueryRow(ctx, `INSERT INTO reviews AS r (account_id, organization_id, title, engineer_id,
				engineer_due_date, vcio_id, vcio_due_date, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5::date, $6, $7::date, $8, $9, $9) RETURNING `+reviewColumns,
			accountID, org.GetId(), in.GetTitle(), nullable(in.GetEngineerId()), nullable(in.GetEngineerDueDate()),
			nullable(in.GetVcioId()), nullable(in.GetVcioDueDate()), int16(status), now))
		if err != nil {
			return reviewErr(err)
		}
		err = s.enqueue(ctx, tx, &orgv1.ReviewCreated{AccountId: accountID, Review: out,
			OrganizationName: org.GetName(), OrganizationGroupIds: org.GetGroupIds()})
		return err
	})
	return out, err
}

// GetReview returns a review of an organization the caller may see.
func (s *Service) GetReview(ctx context.Context, accountID, reviewID string) (*orgv1.Review, error) {
	id, err := caller(ctx, accountID, read(AreaReviews))
	if err != nil {
		return nil, err
	}
	var out *orgv1.Review
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		out, err = readReview(ctx, tx, id, reviewID, false)
		return err
	})
	return out, err
}

// ListReviews lists reviews newest first; the page token is the last review's id.
func (s *Service) ListReviews(ctx context.Context, req *orgv1.ListReviewsRequest) (*orgv1.ListReviewsResponse, error) {
	id, err := caller(ctx, req.GetAccountId(), read(AreaReviews))
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = 100
	}
	var cur struct {
		ID  string `json:"i"`
		Org string `json:"o"`
	}
	if t := req.GetPageToken(); t != "" {
		if err := s.pages.Open("reviews", t, &cur); err != nil || cur.Org != req.GetOrganizationId() {
			return nil, apperr.Invalid("page_token", "is not a token from a previous page of this list")
		}
	}
	after := cur.ID
	restricted, groups := visibility(id)
	resp := &orgv1.ListReviewsResponse{}
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+reviewColumns+` FROM reviews r JOIN organizations o ON o.id = r.organization_id
			WHERE `+visibleSQL("$1", "$2")+` AND ($3 = '' OR r.organization_id = $3::uuid)
			AND ($4 = '' OR (r.created_at, r.id) < (SELECT created_at, id FROM reviews WHERE id = $4::uuid))
			ORDER BY r.created_at DESC, r.id DESC LIMIT $5`, restricted, groups, req.GetOrganizationId(), after, size+1)
		if err != nil {
			return err
		}
		resp.Reviews, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*orgv1.Review, error) { return scanReview(r) })
		return reviewErr(err)
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Reviews) > size {
		resp.Reviews = resp.Reviews[:size]
		cur.ID, cur.Org = resp.Reviews[size-1].GetId(), req.GetOrganizationId()
		if resp.NextPageToken, err = s.pages.Seal("reviews", cur); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// ReassignReview changes a review's assignees and due dates; each changed assignee publishes
// review.owner_changed in the same transaction.
func (s *Service) ReassignReview(ctx context.Context, req *orgv1.ReassignReviewRequest) (*orgv1.Review, error) {
	id, err := caller(ctx, req.GetAccountId(), write(AreaReviews))
	if err != nil {
		return nil, err
	}
	if req.EngineerId == nil && req.VcioId == nil && req.EngineerDueDate == nil && req.VcioDueDate == nil {
		return nil, apperr.Invalid("engineer_id", "nothing to change: give engineer_id, vcio_id or a due date")
	}
	var out *orgv1.Review
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		cur, err := readReview(ctx, tx, id, req.GetReviewId(), true)
		if err != nil {
			return err
		}
		next := &orgv1.Review{EngineerId: cur.GetEngineerId(), EngineerDueDate: cur.GetEngineerDueDate(),
			VcioId: cur.GetVcioId(), VcioDueDate: cur.GetVcioDueDate()}
		if req.EngineerId != nil {
			next.EngineerId = req.GetEngineerId()
		}
		if req.EngineerDueDate != nil {
			next.EngineerDueDate = req.GetEngineerDueDate()
		}
		if req.VcioId != nil {
			next.VcioId = req.GetVcioId()
		}
		if req.VcioDueDate != nil {
			next.VcioDueDate = req.GetVcioDueDate()
		}
		out, err = scanReview(tx.QueryRow(ctx, `UPDATE reviews r SET engineer_id = $2, engineer_due_date = $3::date,
				vcio_id = $4, vcio_due_date = $5::date, updated_at = $6 WHERE id = $1 RETURNING `+reviewColumns,
			cur.GetId(), nullable(next.GetEngineerId()), nullable(next.GetEngineerDueDate()), nullable(next.GetVcioId()),
			nullable(next.GetVcioDueDate()), s.now()))
		if err != nil {
			return reviewErr(err)
		}
		org, err := readOrg(ctx, tx, identity.Identity{Kind: identity.KindOperator}, cur.GetOrganizationId(), false)
		if err != nil {
			return err
		}
		changes := []struct {
			role           orgv1.ReviewRole
			prev, now, due string
		}{
			{orgv1.ReviewRole_REVIEW_ROLE_ENGINEER, cur.GetEngineerId(), out.GetEngineerId(), out.GetEngineerDueDate()},
			{orgv1.ReviewRole_REVIEW_ROLE_VCIO, cur.GetVcioId(), out.GetVcioId(), out.GetVcioDueDate()},
		}
		for _, c := range changes {
			if c.prev == c.now {
				continue
			}
			if err := s.enqueue(ctx, tx, &orgv1.ReviewOwnerChanged{AccountId: req.GetAccountId(), ReviewId: out.GetId(),
				ReviewTitle: out.GetTitle(), OrganizationId: org.GetId(), OrganizationName: org.GetName(), Role: c.role,
				PreviousAssigneeId: c.prev, NewAssigneeId: c.now, DueDate: c.due, ChangedBy: actor(id),
				OrganizationGroupIds: org.GetGroupIds()}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
