package app

import (
	"context"
	"errors"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// CreateReview creates a review of an organization the caller may see. Missing assignees default
// to the organization's default engineer and vCIO.
func (s *Service) CreateReview(ctx context.Context, accountID string, in domain.Review) (domain.Review, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaReviews))
	if err != nil {
		return domain.Review{}, err
	}
	var out domain.Review
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		org, err := tx.Organization(ctx, visibility(id), in.OrganizationID)
		if errors.Is(err, domain.ErrOrganizationNotFound) {
			return apperr.Invalid("review.organization_id", "is not an organization of this account")
		}
		if err != nil {
			return err
		}
		r, err := domain.NewReview(in, org)
		if err != nil {
			return err
		}
		inactive, err := tx.InactiveAssignees(ctx, r.EngineerID, r.VCIOID)
		if err != nil {
			return err
		}
		if err := domain.CheckAssigneesActive("review.", r.EngineerID, r.VCIOID, inactive); err != nil {
			return err
		}
		r, err = tx.InsertReview(ctx, accountID, r, s.now())
		if err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, pbconv.ReviewCreated(accountID, r, org), s.now()); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// GetReview returns a review of an organization the caller may see.
func (s *Service) GetReview(ctx context.Context, accountID, reviewID string) (domain.Review, error) {
	id, err := caller(ctx, accountID, domain.Read(domain.AreaReviews))
	if err != nil {
		return domain.Review{}, err
	}
	var out domain.Review
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Review(ctx, visibility(id), reviewID)
		return err
	})
	return out, err
}

// ReviewQuery asks for a page of an account's reviews, of one organization unless
// OrganizationID is "", of one assignee (engineer or vCIO; "me" for the caller) unless
// AssigneeID is "".
type ReviewQuery struct {
	AccountID      string
	OrganizationID string
	AssigneeID     string
	PageSize       int32
	PageToken      string
}

// ReviewPage is a page of reviews and the token of the next page ("" on the last).
type ReviewPage struct {
	Reviews       []domain.Review
	NextPageToken string
}

// ListReviews lists the reviews of organizations the caller may see, newest first.
func (s *Service) ListReviews(ctx context.Context, q ReviewQuery) (ReviewPage, error) {
	id, err := caller(ctx, q.AccountID, domain.Read(domain.AreaReviews))
	if err != nil {
		return ReviewPage{}, err
	}
	assignee, err := domain.ResolveAssignee(q.AssigneeID, id)
	if err != nil {
		return ReviewPage{}, err
	}
	// The position is the last review's id; the token is bound to the account and the filters,
	// the assignee as resolved (the caller is bound anyway).
	page, err := pagetoken.Open[string](ctx, s.pages, "reviews", q.PageSize, q.PageToken, q.AccountID, q.OrganizationID, assignee)
	if err != nil {
		return ReviewPage{}, err
	}
	var out ReviewPage
	err = s.store.InTenant(ctx, q.AccountID, func(tx *store.Tx) error {
		var err error
		out.Reviews, err = tx.ListReviews(ctx, visibility(id), store.ReviewFilter{OrganizationID: q.OrganizationID, AssigneeID: assignee},
			page.After, page.Size+1)
		return err
	})
	if err != nil {
		return ReviewPage{}, err
	}
	out.Reviews, out.NextPageToken, err = pagetoken.Next(page, out.Reviews, func(r domain.Review) string { return r.ID })
	if err != nil {
		return ReviewPage{}, err
	}
	return out, nil
}

// ReassignReview changes a review's assignees and due dates; each changed assignee publishes
// review.owner_changed in the same transaction.
func (s *Service) ReassignReview(ctx context.Context, accountID, reviewID string, a domain.Reassignment) (domain.Review, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaReviews))
	if err != nil {
		return domain.Review{}, err
	}
	if err := a.Check(); err != nil {
		return domain.Review{}, err
	}
	var out domain.Review
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cur, err := tx.LockReview(ctx, visibility(id), reviewID)
		if err != nil {
			return err
		}
		next, err := cur.Apply(a)
		if err != nil {
			return err
		}
		// Only the assignees this call names: a review already held by a since-deactivated
		// user can still have its other role or its dates changed.
		engineer, vcio := deref(a.EngineerID), deref(a.VCIOID)
		inactive, err := tx.InactiveAssignees(ctx, engineer, vcio)
		if err != nil {
			return err
		}
		if err := domain.CheckAssigneesActive("", engineer, vcio, inactive); err != nil {
			return err
		}
		r, err := tx.UpdateReviewAssignment(ctx, next, s.now())
		if err != nil {
			return err
		}
		// The caller may see the review, so its organization: read it whatever the caller's groups.
		org, err := tx.Organization(ctx, domain.Visibility{}, cur.OrganizationID)
		if err != nil {
			return err
		}
		for _, c := range domain.OwnerChanges(cur, r) {
			if err := tx.Enqueue(ctx, pbconv.ReviewOwnerChanged(accountID, r, org, c, id.Actor()), s.now()); err != nil {
				return err
			}
		}
		out = r
		return nil
	})
	return out, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
