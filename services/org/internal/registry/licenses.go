package registry

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

func requireService(ctx context.Context) error {
	id, ok := identity.From(ctx)
	if !ok {
		return identity.ErrUnauthenticated
	}
	if id.Kind != identity.KindService {
		return apperr.PermissionDenied("only services may do this")
	}
	return nil
}

// SetLicenseLimit sets the limit creates and reactivations are checked against. It takes the
// same row lock they do, so a lower limit cannot slip past a create running at the same moment.
func (s *Service) SetLicenseLimit(ctx context.Context, req *orgv1.SetLicenseLimitRequest) (*orgv1.LicenseUsage, error) {
	if err := requireService(ctx); err != nil {
		return nil, err
	}
	out := &orgv1.LicenseUsage{Unlimited: req.GetUnlimited(), Writable: req.GetWritable()}
	err := s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT active_count FROM account_limits FOR UPDATE`).Scan(&out.Used); err != nil {
			if err == pgx.ErrNoRows {
				return ErrAccountNotFound
			}
			return err
		}
		var limit *int32
		if !req.GetUnlimited() {
			l := req.GetOrganizationLimit()
			if l < out.Used {
				return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "LIMIT_BELOW_USE",
					Message: fmt.Sprintf("%d organizations are active; the limit cannot go below that (deactivate some first)", out.Used)}
			}
			limit, out.OrganizationLimit = &l, l
		}
		_, err := tx.Exec(ctx, `UPDATE account_limits SET organization_limit = $1, writable = $2`, limit, req.GetWritable())
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetLicenseUsage reads the limit and the exact number of active organizations.
func (s *Service) GetLicenseUsage(ctx context.Context, accountID string) (*orgv1.LicenseUsage, error) {
	if err := requireService(ctx); err != nil {
		return nil, err
	}
	out := &orgv1.LicenseUsage{}
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var limit *int32
		err := tx.QueryRow(ctx, `SELECT organization_limit, writable, active_count FROM account_limits`).Scan(&limit, &out.Writable, &out.Used)
		if err == pgx.ErrNoRows {
			return ErrAccountNotFound
		}
		if limit == nil {
			out.Unlimited = true
		} else {
			out.OrganizationLimit = *limit
		}
		return err
	})
	return out, err
}
