package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/pbconv"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// GridRequest asks for a page of the grid.
type GridRequest struct {
	AccountID     string
	Query         string
	Filter        domain.GridFilter
	IntegrationID string
	PageSize      int32
	PageToken     string
}

// GridPage is a page of the grid with its columns and the account's licenses.
type GridPage struct {
	Rows         []domain.Row
	Next         string
	Total        int64
	Integrations []domain.Integration
	Licenses     domain.Licenses
}

type rowPosition struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

// Grid reads a page of the Setup Organizations grid: the organizations the caller may see (org's
// group rule, applied to mapping's copy), their links, the columns and the licenses.
func (s *Service) Grid(ctx context.Context, r GridRequest) (GridPage, error) {
	id, err := identity.ForAccount(ctx, r.AccountID, domain.PermRead)
	if err != nil {
		return GridPage{}, err
	}
	if _, err := identity.ForAccount(ctx, r.AccountID, "organizations:read"); err != nil {
		return GridPage{}, err
	}
	query := strings.TrimSpace(r.Query)
	page, err := pagetoken.Open[rowPosition](ctx, s.pages, "mapping grid", r.PageSize, r.PageToken, r.AccountID, query,
		fmt.Sprint(r.Filter), r.IntegrationID)
	if err != nil {
		return GridPage{}, err
	}
	var out GridPage
	// The peers are asked outside the transaction, while it runs: neither answer depends on the page.
	var wg sync.WaitGroup
	var sumErr, licErr error
	wg.Go(func() { out.Integrations, sumErr = s.integrations.Summaries(ctx, r.AccountID) })
	wg.Go(func() { out.Licenses, licErr = s.orgs.Licenses(ctx, r.AccountID) })
	restricted, groups := id.Visibility()
	q := store.GridQuery{Restricted: restricted, Groups: groups, Query: query, Filter: r.Filter, IntegrationID: r.IntegrationID,
		Limit: page.Size + 1}
	if page.Continues {
		q.AfterName, q.AfterID = page.After.Name, page.After.ID
	}
	err = s.store.InTenant(ctx, r.AccountID, func(tx *store.Tx) error {
		var err error
		if out.Rows, out.Total, err = tx.Grid(ctx, q); err != nil {
			return err
		}
		return fillCells(ctx, tx, out.Rows)
	})
	wg.Wait()
	for _, e := range []error{err, sumErr, licErr} {
		if e != nil {
			return GridPage{}, e // one error, with its own status
		}
	}
	out.Rows, out.Next, err = pagetoken.Next(page, out.Rows, func(r domain.Row) rowPosition {
		return rowPosition{Name: strings.ToLower(r.Name), ID: r.OrganizationID}
	})
	return out, err
}

func fillCells(ctx context.Context, tx *store.Tx, rows []domain.Row) error {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.OrganizationID
	}
	cells, err := tx.Cells(ctx, ids)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].Cells = cells[rows[i].OrganizationID]
	}
	return nil
}

// SaveMappings applies a batch of changes, all or none. Each change's row must be at the version
// the caller read (else 409 naming every changed row); an external organization may be moved
// from one row to another in the same batch (unlinks are applied first).
func (s *Service) SaveMappings(ctx context.Context, accountID string, changes []domain.Change) ([]domain.Row, error) {
	id, _, err := s.writer(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if err := domain.CheckBatch(changes); err != nil {
		return nil, err
	}
	restricted, groups := id.Visibility()
	var out []domain.Row
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		out = nil
		rowIDs := map[string]bool{}
		var ids []string
		for _, c := range changes {
			if !rowIDs[c.OrganizationID] {
				rowIDs[c.OrganizationID] = true
				ids = append(ids, c.OrganizationID)
			}
		}
		versions, err := tx.LockRows(ctx, restricted, groups, ids)
		if err != nil {
			return err
		}
		var stale []string
		for i, c := range changes {
			v, ok := versions[c.OrganizationID]
			if !ok {
				return notFoundAt(i, "organizationId", "organization not found")
			}
			if v != c.Version && !slices.Contains(stale, c.OrganizationID) {
				stale = append(stale, c.OrganizationID)
			}
		}
		if len(stale) > 0 {
			return domain.RowsChanged(stale)
		}
		now := s.clock()
		var evs []proto.Message
		// Unlinks and relinks free their old external organizations first.
		type pending struct {
			i        int
			c        domain.Change
			previous string
		}
		var links []pending
		for i, c := range changes {
			kind, err := tx.IntegrationKind(ctx, c.IntegrationID)
			if err != nil {
				return err
			}
			if kind == "" {
				return notFoundAt(i, "integrationId", "integration not found")
			}
			cur, has, err := tx.LinkOf(ctx, c.OrganizationID, c.IntegrationID)
			if err != nil {
				return err
			}
			if has && cur.ExternalOrganizationID == c.ExternalID {
				continue // already so
			}
			previous := ""
			if has {
				previous = cur.ExternalOrganizationID
				if err := tx.DeleteLink(ctx, cur.ID); err != nil {
					return err
				}
				if c.ExternalID == "" {
					evs = append(evs, &mappingv1.MappingUnlinked{AccountId: accountID, Link: pbconv.Link(cur), RemovedBy: id.Actor()})
				}
			}
			if c.ExternalID != "" {
				links = append(links, pending{i, c, previous})
			}
		}
		for _, p := range links {
			e, ok, err := tx.External(ctx, p.c.IntegrationID, p.c.ExternalID)
			if err != nil {
				return err
			}
			if !ok {
				return notFoundAt(p.i, "externalOrganizationId", "no such organization in the integration's cached list (refresh it)")
			}
			if holder, taken, err := tx.LinkOfExternal(ctx, p.c.IntegrationID, p.c.ExternalID); err != nil {
				return err
			} else if taken {
				return domain.ExternalTaken(p.i, p.c.ExternalID, holder.OrganizationID)
			}
			l := domain.Link{AccountID: accountID, OrganizationID: p.c.OrganizationID, IntegrationID: p.c.IntegrationID,
				ExternalOrganizationID: p.c.ExternalID, ExternalName: e.Name, Method: domain.MethodManual, CreatedBy: id.Actor(), Created: now}
			if l.ID, err = tx.InsertLink(ctx, l); err != nil {
				if postgres.ConstraintName(err) == "links_one_twin" { // a concurrent batch or import took it
					return domain.ExternalTaken(p.i, p.c.ExternalID, "")
				}
				return err
			}
			evs = append(evs, &mappingv1.MappingLinked{AccountId: accountID, Link: pbconv.Link(l), PreviousExternalOrganizationId: p.previous})
		}
		if err := tx.BumpVersions(ctx, ids); err != nil {
			return err
		}
		if err := tx.EnqueueBatch(ctx, evs, now); err != nil {
			return err
		}
		out, err = tx.Rows(ctx, ids)
		if err != nil {
			return err
		}
		return fillCells(ctx, tx, out)
	})
	return out, err
}

// notFoundAt names the change whose organization, integration or external organization does not
// exist (or is not visible): nothing of the batch is applied.
func notFoundAt(i int, field, msg string) error {
	return domain.NotFoundAt(fmt.Sprintf("changes[%d].%s", i, field), msg)
}
