package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// Suggestion is a suggested link with both names, for the API.
type Suggestion struct {
	domain.Suggestion
	OrganizationName, ExternalName string
}

// suggestionPosition is the last organization of a page of suggestions: its name as stored (the
// store compares it as it orders, by lower(name)) and its id.
type suggestionPosition struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

// organizationSuggestions are one organization's suggestions, the unit a page counts.
type organizationSuggestions struct {
	org         domain.Named
	suggestions []domain.Suggestion
}

// Suggestions proposes, for the unmapped organizations the caller may see, the likeliest free
// external organizations of an integration. It links nothing. A page holds up to size
// organizations (by name), each with all its suggestions; the token of the next page is
// returned ("" on the last).
func (s *Service) Suggestions(ctx context.Context, accountID, integrationID string, orgIDs []string, perOrg int, size int32, token string) ([]Suggestion, string, error) {
	if perOrg <= 0 {
		perOrg = 3
	}
	// The token is checked first, as on every list: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[suggestionPosition](ctx, s.pages, "match suggestions", size, token,
		accountID, integrationID, idsDigest(orgIDs), strconv.Itoa(perOrg))
	if err != nil {
		return nil, "", err
	}
	id, err := identity.ForAccount(ctx, accountID, domain.PermRead)
	if err != nil {
		return nil, "", err
	}
	if _, err := identity.ForAccount(ctx, accountID, "organizations:read"); err != nil {
		return nil, "", err
	}
	restricted, groups := id.Visibility()
	var orgs, exts []domain.Named
	from := 0
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		kind, err := tx.IntegrationKind(ctx, integrationID)
		if err != nil {
			return err
		}
		if kind == "" {
			return domain.ErrIntegrationNotFound
		}
		if orgs, from, err = tx.UnmappedNames(ctx, restricted, groups, integrationID, orgIDs, page.After.Name, page.After.ID); err != nil {
			return err
		}
		exts, err = tx.UnlinkedExternals(ctx, integrationID)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	// Every organization takes part in the matching, whatever the page: how common a word is
	// among them all weighs in, and a page must not score a name otherwise than the whole list.
	byOrg := domain.Suggest(orgs, exts, perOrg)
	var list []organizationSuggestions
	for _, o := range orgs[from:] { // by name, as read
		if sg := byOrg[o.ID]; len(sg) > 0 {
			list = append(list, organizationSuggestions{org: o, suggestions: sg})
			if len(list) > page.Size {
				break
			}
		}
	}
	list, next, err := pagetoken.Next(page, list, func(o organizationSuggestions) suggestionPosition {
		return suggestionPosition{Name: o.org.Name, ID: o.org.ID}
	})
	if err != nil {
		return nil, "", err
	}
	extName := make(map[string]string, len(exts))
	for _, e := range exts {
		extName[e.ID] = e.Name
	}
	var out []Suggestion
	for _, o := range list {
		for _, sg := range o.suggestions {
			out = append(out, Suggestion{Suggestion: sg, OrganizationName: o.org.Name, ExternalName: extName[sg.ExternalID]})
		}
	}
	return out, next, nil
}

// idsDigest stands for a set of ids in a token's binding: the same set in any order or with
// repeats digests alike, and a thousand ids do not make the binding long.
func idsDigest(ids []string) string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	h := sha256.New()
	for _, id := range sorted {
		h.Write([]byte(strconv.Itoa(len(id)) + ":" + id))
	}
	return hex.EncodeToString(h.Sum(nil))
}
