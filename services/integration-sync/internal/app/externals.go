package app

import (
	"context"
	"strings"
	"time"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// ExternalQuery selects an integration's cached organizations.
type ExternalQuery struct {
	AccountID, IntegrationID string
	Query                    string
	State                    domain.ExternalState
	PageSize                 int32
	PageToken                string
}

type externalPosition struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

// ListExternalOrganizations lists an integration's cached organizations by name.
func (s *Service) ListExternalOrganizations(ctx context.Context, q ExternalQuery) ([]domain.ExternalOrganization, string, int64, error) {
	if _, err := identity.ForAccount(ctx, q.AccountID, domain.PermRead); err != nil {
		return nil, "", 0, err
	}
	query := strings.TrimSpace(q.Query)
	page, err := pagetoken.Open[externalPosition](ctx, s.pages, "external organizations", q.PageSize, q.PageToken,
		q.AccountID, q.IntegrationID, query, string(rune('0'+q.State)))
	if err != nil {
		return nil, "", 0, err
	}
	f := store.ExternalFilter{Query: query, State: q.State, Limit: page.Size + 1}
	if page.Continues {
		f.AfterName, f.AfterID = page.After.Name, page.After.ID
	}
	var list []domain.ExternalOrganization
	var total int64
	err = s.store.InTenant(ctx, q.AccountID, func(tx *store.Tx) error {
		if _, err := tx.Integration(ctx, q.IntegrationID, false); err != nil {
			return err
		}
		var err error
		list, total, err = tx.Externals(ctx, q.IntegrationID, f)
		return err
	})
	if err != nil {
		return nil, "", 0, err
	}
	list, next, err := pagetoken.Next(page, list, func(e domain.ExternalOrganization) externalPosition {
		return externalPosition{Name: strings.ToLower(e.Name), ID: e.ExternalID}
	})
	return list, next, total, err
}

type orphanPosition struct {
	At          time.Time `json:"t"`
	Integration string    `json:"g"`
	ID          string    `json:"i"`
}

// ListOrphans lists every orphan of the account across integrations, newest first.
func (s *Service) ListOrphans(ctx context.Context, accountID string, size int32, token string) ([]domain.ExternalOrganization, string, int64, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", 0, err
	}
	page, err := pagetoken.Open[orphanPosition](ctx, s.pages, "orphans", size, token, accountID)
	if err != nil {
		return nil, "", 0, err
	}
	f := store.OrphanFilter{Limit: page.Size + 1}
	if page.Continues {
		f.AfterAt, f.AfterIntegration, f.AfterID = page.After.At, page.After.Integration, page.After.ID
	}
	var list []domain.ExternalOrganization
	var total int64
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		list, total, err = tx.Orphans(ctx, f)
		return err
	})
	if err != nil {
		return nil, "", 0, err
	}
	list, next, err := pagetoken.Next(page, list, func(e domain.ExternalOrganization) orphanPosition {
		return orphanPosition{At: e.StateAt, Integration: e.IntegrationID, ID: e.ExternalID}
	})
	return list, next, total, err
}
