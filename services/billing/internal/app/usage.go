package app

import (
	"context"
	"fmt"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

// LicenseUsage answers limit, used and remaining, exactly: the count comes from where the limit
// is enforced.
func (s *Service) LicenseUsage(ctx context.Context, accountID string) (domain.Usage, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return domain.Usage{}, err
	}
	u, err := s.org.LicenseUsage(identity.With(ctx, identity.Service("billing")), accountID)
	if err != nil {
		return domain.Usage{}, fmt.Errorf("license usage: %w", err)
	}
	return u, nil
}

// LicenseChanges lists the recorded license changes, newest first.
func (s *Service) LicenseChanges(ctx context.Context, accountID string) ([]domain.LicenseChange, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, err
	}
	var out []domain.LicenseChange
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cs, err := tx.LicenseChanges(ctx)
		out = cs
		return err
	})
	return out, err
}

// UsageHistory returns one record per day from start to end (YYYY-MM-DD, inclusive); a day
// without changes carries the previous day's count.
func (s *Service) UsageHistory(ctx context.Context, accountID, start, end string) ([]domain.DailyUsage, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, err
	}
	r, err := domain.ParseDateRange(start, end)
	if err != nil {
		return nil, err
	}
	var out []domain.DailyUsage
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		ds, err := tx.UsageHistory(ctx, r)
		out = ds
		return err
	})
	return out, err
}
