package app

import (
	"context"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// errServicesOnly refuses the license calls to anyone but a service: the limit is billing's to
// set, and no REST route leads here.
var errServicesOnly = apperr.PermissionDenied("only services may do this")

func requireServiceIdentity(ctx context.Context) error {
	id, ok := identity.From(ctx)
	if !ok {
		return identity.ErrUnauthenticated
	}
	if id.Kind != identity.KindService {
		return errServicesOnly
	}
	return nil
}

// SetLicenseLimit applies the limit billing decided, under the same row lock creates and
// reactivations take. A generation already applied changes nothing (see domain.ApplyLimit).
func (s *Service) SetLicenseLimit(ctx context.Context, accountID string, want domain.LicenseLimit) (domain.LicenseUsage, error) {
	if err := requireServiceIdentity(ctx); err != nil {
		return domain.LicenseUsage{}, err
	}
	var out domain.LicenseUsage
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		current, err := tx.LicenseLimitForUpdate(ctx)
		if err != nil {
			return err
		}
		next, changed, err := domain.ApplyLimit(current, want)
		if err != nil {
			return err
		}
		if changed {
			if err := tx.SetLicenseLimit(ctx, next.LicenseLimit); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	if err != nil {
		return domain.LicenseUsage{}, err
	}
	return out, nil
}

// LicenseUsage reads the account's enforced limit and exact use.
func (s *Service) LicenseUsage(ctx context.Context, accountID string) (domain.LicenseUsage, error) {
	if err := requireServiceIdentity(ctx); err != nil {
		return domain.LicenseUsage{}, err
	}
	var out domain.LicenseUsage
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		u, err := tx.LicenseUsage(ctx)
		out = u
		return err
	})
	if err != nil {
		return domain.LicenseUsage{}, err
	}
	return out, nil
}
