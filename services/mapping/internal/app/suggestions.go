package app

import (
	"context"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// Suggestion is a suggested link with both names, for the API.
type Suggestion struct {
	domain.Suggestion
	OrganizationName, ExternalName string
}

// Suggestions proposes, for the unmapped organizations the caller may see, the likeliest free
// external organizations of an integration. It links nothing.
func (s *Service) Suggestions(ctx context.Context, accountID, integrationID string, orgIDs []string, perOrg int) ([]Suggestion, error) {
	id, err := identity.ForAccount(ctx, accountID, domain.PermRead)
	if err != nil {
		return nil, err
	}
	if _, err := identity.ForAccount(ctx, accountID, "organizations:read"); err != nil {
		return nil, err
	}
	if perOrg <= 0 {
		perOrg = 3
	}
	restricted, groups := id.Visibility()
	var orgs, exts []domain.Named
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		kind, err := tx.IntegrationKind(ctx, integrationID)
		if err != nil {
			return err
		}
		if kind == "" {
			return domain.ErrIntegrationNotFound
		}
		if orgs, err = tx.UnmappedNames(ctx, restricted, groups, integrationID, orgIDs); err != nil {
			return err
		}
		exts, err = tx.UnlinkedExternals(ctx, integrationID)
		return err
	})
	if err != nil {
		return nil, err
	}
	byOrg := domain.Suggest(orgs, exts, perOrg)
	extName := make(map[string]string, len(exts))
	for _, e := range exts {
		extName[e.ID] = e.Name
	}
	var out []Suggestion
	for _, o := range orgs { // by name, as read
		for _, sg := range byOrg[o.ID] {
			out = append(out, Suggestion{Suggestion: sg, OrganizationName: o.Name, ExternalName: extName[sg.ExternalID]})
		}
	}
	return out, nil
}
