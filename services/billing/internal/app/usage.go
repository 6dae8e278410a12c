package app

import (
	"context"
	"fmt"
	"time"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
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

type changePosition struct {
	At  time.Time `json:"t"`
	Seq int64     `json:"s"`
}

// LicenseChanges pages the recorded license changes, newest first, and returns the token of the
// next page ("" on the last).
func (s *Service) LicenseChanges(ctx context.Context, accountID string, size int32, token string) ([]domain.LicenseChange, string, error) {
	// The token is checked first, as on every list: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[changePosition](ctx, s.pages, "license changes", size, token, accountID)
	if err != nil {
		return nil, "", err
	}
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", err
	}
	var out []domain.LicenseChange
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cs, err := tx.LicenseChanges(ctx, page.After.At, page.After.Seq, page.Size+1)
		out = cs
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, out, func(c domain.LicenseChange) changePosition { return changePosition{At: c.At, Seq: c.Seq} })
}

// UsageHistory pages one record per day from start to end (YYYY-MM-DD, inclusive), oldest
// first; a day without changes carries the previous day's count. The range is part of the
// query a token is bound to; its position is the last day of the previous page.
func (s *Service) UsageHistory(ctx context.Context, accountID, start, end string, size int32, token string) ([]domain.DailyUsage, string, error) {
	page, err := pagetoken.Open[string](ctx, s.pages, "usage history", size, token, accountID, start, end)
	if err != nil {
		return nil, "", err
	}
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", err
	}
	r, err := domain.ParseDateRange(start, end)
	if err != nil {
		return nil, "", err
	}
	if page.Continues {
		last, err := time.Parse(time.DateOnly, page.After)
		if err != nil {
			// Sealed by this service, so never; refused like any token it did not issue.
			return nil, "", pagetoken.ErrBadToken
		}
		r.From = last.AddDate(0, 0, 1)
	}
	var out []domain.DailyUsage
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		ds, err := tx.UsageHistory(ctx, r, page.Size+1)
		out = ds
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, out, func(d domain.DailyUsage) string { return d.Date })
}
