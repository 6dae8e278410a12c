package pbconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Review is r as the API and the review.* events show it.
func Review(r domain.Review) *orgv1.Review {
	return &orgv1.Review{Id: r.ID, OrganizationId: r.OrganizationID, Title: r.Title, EngineerId: r.EngineerID,
		EngineerDueDate: r.EngineerDueDate, VcioId: r.VCIOID, VcioDueDate: r.VCIODueDate,
		Status: orgv1.ReviewStatus(r.Status), CreateTime: timestamppb.New(r.CreatedAt), UpdateTime: timestamppb.New(r.UpdatedAt)}
}

// Reviews converts a list of reviews.
func Reviews(rs []domain.Review) []*orgv1.Review {
	out := make([]*orgv1.Review, len(rs))
	for i, r := range rs {
		out[i] = Review(r)
	}
	return out
}

// ReviewFromProto takes the fields of r a caller may write.
func ReviewFromProto(r *orgv1.Review) domain.Review {
	return domain.Review{OrganizationID: r.GetOrganizationId(), Title: r.GetTitle(), EngineerID: r.GetEngineerId(),
		EngineerDueDate: r.GetEngineerDueDate(), VCIOID: r.GetVcioId(), VCIODueDate: r.GetVcioDueDate(),
		Status: domain.ReviewStatus(r.GetStatus())}
}

// Reassignment is the change a reassign request asks for; unset fields stay as they are.
func Reassignment(req *orgv1.ReassignReviewRequest) domain.Reassignment {
	return domain.Reassignment{EngineerID: req.EngineerId, EngineerDueDate: req.EngineerDueDate,
		VCIOID: req.VcioId, VCIODueDate: req.VcioDueDate}
}

// ReviewCreated is the review.created event of r, a review of org.
func ReviewCreated(accountID string, r domain.Review, org domain.Organization) *orgv1.ReviewCreated {
	return &orgv1.ReviewCreated{AccountId: accountID, Review: Review(r), OrganizationName: org.Name,
		OrganizationGroupIds: org.GroupIDs}
}

// ReviewOwnerChanged is the review.owner_changed event of change c to r, a review of org, made by
// changedBy.
func ReviewOwnerChanged(accountID string, r domain.Review, org domain.Organization, c domain.OwnerChange, changedBy string) *orgv1.ReviewOwnerChanged {
	return &orgv1.ReviewOwnerChanged{AccountId: accountID, ReviewId: r.ID, ReviewTitle: r.Title, OrganizationId: org.ID,
		OrganizationName: org.Name, Role: orgv1.ReviewRole(c.Role), PreviousAssigneeId: c.Previous, NewAssigneeId: c.New,
		DueDate: c.DueDate, ChangedBy: changedBy, OrganizationGroupIds: org.GroupIDs}
}
