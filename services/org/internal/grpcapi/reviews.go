package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
)

// RegisterReviews serves orgv1.ReviewService.
func RegisterReviews(s grpc.ServiceRegistrar, svc *app.Service) {
	orgv1.RegisterReviewServiceServer(s, &reviews{svc: svc})
}

type reviews struct {
	orgv1.UnimplementedReviewServiceServer
	svc *app.Service
}

func (s *reviews) CreateReview(ctx context.Context, req *orgv1.CreateReviewRequest) (*orgv1.Review, error) {
	r, err := s.svc.CreateReview(ctx, req.GetAccountId(), pbconv.ReviewFromProto(req.GetReview()))
	if err != nil {
		return nil, err
	}
	return pbconv.Review(r), nil
}

func (s *reviews) GetReview(ctx context.Context, req *orgv1.GetReviewRequest) (*orgv1.Review, error) {
	r, err := s.svc.GetReview(ctx, req.GetAccountId(), req.GetReviewId())
	if err != nil {
		return nil, err
	}
	return pbconv.Review(r), nil
}

func (s *reviews) ListReviews(ctx context.Context, req *orgv1.ListReviewsRequest) (*orgv1.ListReviewsResponse, error) {
	page, err := s.svc.ListReviews(ctx, app.ReviewQuery{AccountID: req.GetAccountId(), OrganizationID: req.GetOrganizationId(),
		AssigneeID: req.GetAssigneeId(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &orgv1.ListReviewsResponse{Reviews: pbconv.Reviews(page.Reviews), NextPageToken: page.NextPageToken}, nil
}

func (s *reviews) ReassignReview(ctx context.Context, req *orgv1.ReassignReviewRequest) (*orgv1.Review, error) {
	r, err := s.svc.ReassignReview(ctx, req.GetAccountId(), req.GetReviewId(), pbconv.Reassignment(req))
	if err != nil {
		return nil, err
	}
	return pbconv.Review(r), nil
}
