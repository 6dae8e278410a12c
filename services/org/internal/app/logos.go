package app

import (
	"context"

	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/logo"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// SetAccountLogo stores the company logo.
func (s *Service) SetAccountLogo(ctx context.Context, accountID string, data []byte) (domain.LogoInfo, error) {
	return s.setLogo(ctx, accountID, "", domain.Write(domain.AreaAccountSettings), data)
}

// AccountLogo returns the company logo. Anyone in the account may see it.
func (s *Service) AccountLogo(ctx context.Context, accountID string) (domain.Logo, error) {
	return s.getLogo(ctx, accountID, "", "")
}

// DeleteAccountLogo removes the company logo.
func (s *Service) DeleteAccountLogo(ctx context.Context, accountID string) error {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaAccountSettings)); err != nil {
		return err
	}
	return s.store.InTenant(ctx, accountID, func(tx *store.Tx) error { return tx.DeleteAccountLogo(ctx) })
}

// SetOrganizationLogo stores the logo of an organization the caller may see.
func (s *Service) SetOrganizationLogo(ctx context.Context, accountID, orgID string, data []byte) (domain.LogoInfo, error) {
	return s.setLogo(ctx, accountID, orgID, domain.Write(domain.AreaOrganizations), data)
}

// OrganizationLogo returns the logo of an organization the caller may see.
func (s *Service) OrganizationLogo(ctx context.Context, accountID, orgID string) (domain.Logo, error) {
	return s.getLogo(ctx, accountID, orgID, domain.Read(domain.AreaOrganizations))
}

// setLogo stores the logo of organization orgID, or the account's when orgID is "". The image
// is checked and re-encoded before the transaction opens: it is the slow part.
func (s *Service) setLogo(ctx context.Context, accountID, orgID, perm string, data []byte) (domain.LogoInfo, error) {
	id, err := s.writer(ctx, accountID, perm) // only ever a write permission
	if err != nil {
		return domain.LogoInfo{}, err
	}
	l, err := logo.Process(ctx, "data", data)
	if err != nil {
		return domain.LogoInfo{}, err
	}
	stored := domain.Logo{ContentType: l.ContentType, Data: l.Data, Width: l.Width, Height: l.Height, SHA256: l.SHA256}
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if orgID != "" {
			if _, err := tx.LockOrganization(ctx, visibility(id), orgID); err != nil {
				return err
			}
		}
		return tx.ReplaceLogo(ctx, accountID, orgID, stored, s.now())
	})
	if err != nil {
		return domain.LogoInfo{}, err
	}
	return stored.Info(), nil
}

func (s *Service) getLogo(ctx context.Context, accountID, orgID, perm string) (domain.Logo, error) {
	id, err := caller(ctx, accountID, perm)
	if err != nil {
		return domain.Logo{}, err
	}
	var out domain.Logo
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if orgID != "" {
			if _, err := tx.Organization(ctx, visibility(id), orgID); err != nil {
				return err
			}
		}
		var err error
		out, err = tx.Logo(ctx, orgID)
		return err
	})
	return out, err
}
