package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/apperr"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
	"github.com/orgplane/orgplane/services/mapping/internal/pbconv"
	"github.com/orgplane/orgplane/services/mapping/internal/store"
)

// importLease is how long a worker holds an import without renewing it; a crashed worker's
// import is resumed by another after at most this long.
const importLease = 15 * time.Second

// StartImport starts an "Add from IT Glue" import, or returns the one requestID started. Items
// that cannot be imported (unknown, already imported) are refused item by item; a selection that
// would create more organizations than licenses remain is refused whole, before anything is
// written.
func (s *Service) StartImport(ctx context.Context, accountID, integrationID, requestID string, externalIDs []string) (domain.Import, error) {
	id, lic, err := s.writer(ctx, accountID, "organizations:write")
	if err != nil {
		return domain.Import{}, err
	}
	acting, err := json.Marshal(id)
	if err != nil {
		return domain.Import{}, err
	}
	var im domain.Import
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if prior, ok, err := tx.ImportByRequest(ctx, requestID); err != nil || ok {
			im = prior
			return err
		}
		kind, err := tx.IntegrationKind(ctx, integrationID)
		if err != nil {
			return err
		}
		switch {
		case kind == "":
			return domain.ErrIntegrationNotFound
		case kind != "itglue":
			return domain.ErrNotITGlue
		}
		ids := dedupe(externalIDs)
		known, err := tx.ExternalsByID(ctx, integrationID, ids)
		if err != nil {
			return err
		}
		now := s.clock()
		im = domain.Import{ID: uuid.NewString(), AccountID: accountID, IntegrationID: integrationID, RequestID: requestID,
			State: domain.ImportRunning, Total: len(ids), CreatedBy: id.Actor(), Started: now}
		items := make([]domain.ImportItem, len(ids))
		var names []string
		seenName := map[string]bool{}
		for i, ext := range ids {
			it := domain.ImportItem{Seq: i + 1, ExternalID: ext}
			e, ok := known[ext]
			switch {
			case !ok:
				it.Outcome, it.Reason = domain.OutcomeFailed, "not in the integration's cached list (refresh it)"
			case e.Deleted || e.State == domain.ExternalOrphaned:
				it.Name, it.Outcome, it.Reason = e.Name, domain.OutcomeFailed, "orphaned in IT Glue"
			case e.Linked:
				it.Name, it.Outcome, it.Reason = e.Name, domain.OutcomeFailed, "already imported"
			case seenName[e.Name]:
				it.Name, it.Outcome, it.Reason = e.Name, domain.OutcomeFailed, "another selected IT Glue organization has the same name"
			default:
				it.Name = e.Name
				seenName[e.Name] = true
				names = append(names, e.Name)
			}
			if it.Outcome == domain.OutcomeFailed {
				im.Count(domain.OutcomeFailed)
			}
			items[i] = it
		}
		existing, err := tx.ExistingNames(ctx, names)
		if err != nil {
			return err
		}
		if creates := len(names) - len(existing); !lic.Unlimited && creates > lic.Remaining() {
			return domain.OverLicenses(creates, lic.Remaining())
		}
		if im.Done == im.Total {
			im.State, im.Ended = domain.ImportSucceeded, now
		}
		inserted, err := tx.InsertImport(ctx, im, acting, items)
		if err != nil || inserted {
			return err
		}
		// A concurrent request with the same id won: return its import.
		im, _, err = tx.ImportByRequest(ctx, requestID)
		return err
	})
	if err == nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return im, err
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// GetImport returns an import.
func (s *Service) GetImport(ctx context.Context, accountID, importID string) (domain.Import, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return domain.Import{}, err
	}
	var im domain.Import
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		im, err = tx.Import(ctx, importID, false)
		return err
	})
	return im, err
}

// ListImportItems pages an import's items in request order.
func (s *Service) ListImportItems(ctx context.Context, accountID, importID string, size int32, token string) ([]domain.ImportItem, string, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", err
	}
	page, err := pagetoken.Open[int](ctx, s.pages, "import items", size, token, accountID, importID)
	if err != nil {
		return nil, "", err
	}
	var items []domain.ImportItem
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if _, err := tx.Import(ctx, importID, false); err != nil {
			return err
		}
		var err error
		items, err = tx.Items(ctx, importID, page.After, page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, items, func(it domain.ImportItem) int { return it.Seq })
}

// Candidates lists the IT Glue organizations not imported yet, with the account's licenses.
func (s *Service) Candidates(ctx context.Context, accountID, integrationID, query string, size int32, token string) ([]store.ExternalCopy, string, int64, domain.Licenses, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", 0, domain.Licenses{}, err
	}
	query = strings.TrimSpace(query)
	page, err := pagetoken.Open[rowPosition](ctx, s.pages, "import candidates", size, token, accountID, integrationID, query)
	if err != nil {
		return nil, "", 0, domain.Licenses{}, err
	}
	lic, err := s.orgs.Licenses(ctx, accountID)
	if err != nil {
		return nil, "", 0, domain.Licenses{}, err
	}
	var list []store.ExternalCopy
	var total int64
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		kind, err := tx.IntegrationKind(ctx, integrationID)
		switch {
		case err != nil:
			return err
		case kind == "":
			return domain.ErrIntegrationNotFound
		case kind != "itglue":
			return domain.ErrNotITGlue
		}
		after := page.After
		list, total, err = tx.Candidates(ctx, integrationID, query, after.Name, after.ID, page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", 0, domain.Licenses{}, err
	}
	list, next, err := pagetoken.Next(page, list, func(e store.ExternalCopy) rowPosition {
		return rowPosition{Name: strings.ToLower(e.Name), ID: e.ExternalID}
	})
	return list, next, total, lic, err
}

// RunImports runs imports until ctx ends: claims the most overdue one (one worker per import
// across replicas, by lease) and applies it chunk by chunk.
func (s *Service) RunImports(ctx context.Context) error {
	for ctx.Err() == nil {
		var id, account string
		var ok bool
		err := s.store.InSystem(ctx, func(tx *store.Tx) error {
			var err error
			id, account, ok, err = tx.ClaimImport(ctx, s.owner, importLease)
			return err
		})
		if err == nil && ok {
			if err := s.runImport(ctx, id, account); err != nil && ctx.Err() == nil {
				s.log.Warn("import step failed; it will be retried", "import", id, "error", err)
				_ = s.store.InSystem(context.WithoutCancel(ctx), func(tx *store.Tx) error {
					return tx.PostponeImport(ctx, id, s.owner, 2*time.Second)
				})
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// runImport applies an import's pending items, a chunk at a time: plan (in a transaction, kept
// with the items), create the chunk's new organizations through org's bulk create (outside any
// transaction, idempotent by the chunk's request id), then link and record outcomes (in a
// transaction). A crash between the steps resumes with the same plan and the same request id,
// so nothing is created twice and the counts stay exact.
func (s *Service) runImport(ctx context.Context, importID, accountID string) error {
	var acting identity.Identity
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		b, err := tx.ActingAs(ctx, importID)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &acting)
	})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		var im domain.Import
		var chunk []domain.ImportItem
		err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
			if err := tx.RenewImportLease(ctx, importID, s.owner, importLease); err != nil {
				return err
			}
			var err error
			if im, err = tx.Import(ctx, importID, true); err != nil {
				return err
			}
			if chunk, err = tx.PendingItems(ctx, importID, domain.ImportChunk); err != nil {
				return err
			}
			if len(chunk) == 0 {
				im.State, im.Ended = domain.ImportSucceeded, s.clock()
				return tx.SaveImport(ctx, im)
			}
			if chunk[0].Planned != domain.OutcomePending {
				return nil // planned before a crash: keep the plan
			}
			return s.plan(ctx, tx, im, acting, chunk)
		})
		if err != nil || len(chunk) == 0 {
			return err
		}
		created, createErr := s.createChunk(identity.With(ctx, acting), accountID, chunk)
		if createErr != nil && apperr.KindOf(createErr) == apperr.KindUnavailable {
			return createErr
		}
		if err := s.applyChunk(ctx, accountID, im.ID, chunk, created, createErr); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// plan decides each item of a chunk by exact name and keeps the plan with a request id for the
// chunk's bulk create.
func (s *Service) plan(ctx context.Context, tx *store.Tx, im domain.Import, acting identity.Identity, chunk []domain.ImportItem) error {
	names := make([]string, len(chunk))
	for i, it := range chunk {
		names[i] = it.Name
	}
	found, err := tx.OrgsByName(ctx, im.IntegrationID, names)
	if err != nil {
		return err
	}
	request := uuid.NewSHA1(uuid.MustParse(im.ID), fmt.Appendf(nil, "chunk %d", chunk[0].Seq)).String()
	restricted, groups := acting.Visibility()
	for i, it := range chunk {
		m, ok := found[it.Name]
		chunk[i].ChunkRequest = request
		switch {
		case ok && !domain.Visible(restricted, groups, m.Groups):
			// Names are unique in the account: the one the importer may not see is neither linked
			// (it is not theirs to touch) nor created again (org would refuse the whole chunk).
			chunk[i].Planned, chunk[i].Reason = domain.OutcomeFailed, "an organization with this name exists outside your groups"
		default:
			chunk[i].Planned, chunk[i].Reason = domain.PlanItem(ok, m.LinkedExternal, it.ExternalID)
			if ok {
				chunk[i].OrganizationID = m.ID
			}
		}
	}
	return tx.SaveItems(ctx, im.ID, chunk)
}

// createChunk creates the chunk's planned new organizations and returns their ids by name.
func (s *Service) createChunk(ctx context.Context, accountID string, chunk []domain.ImportItem) (map[string]string, error) {
	var names []string
	request := ""
	for _, it := range chunk {
		if it.Planned == domain.OutcomeCreated {
			names = append(names, it.Name)
			request = it.ChunkRequest
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	ids, err := s.orgs.BulkCreate(ctx, accountID, request, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ids))
	for i, id := range ids {
		out[names[i]] = id
	}
	return out, nil
}

// applyChunk links the chunk's items and records their outcomes and the counts. createErr, when
// org refused the chunk's creations (licenses gone, a name taken meanwhile), fails those items
// with org's words; the others are linked all the same.
func (s *Service) applyChunk(ctx context.Context, accountID, importID string, chunk []domain.ImportItem, created map[string]string, createErr error) error {
	now := s.clock()
	return s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.RenewImportLease(ctx, importID, s.owner, importLease); err != nil {
			return err
		}
		im, err := tx.Import(ctx, importID, true)
		if err != nil {
			return err
		}
		items := append([]domain.ImportItem(nil), chunk...)
		var evs []proto.Message
		var touched []string
		for i := range items {
			it := &items[i]
			if it.Outcome != domain.OutcomePending {
				continue
			}
			if it.Planned == domain.OutcomeFailed {
				it.Outcome = domain.OutcomeFailed
				im.Count(it.Outcome)
				continue
			}
			if it.Planned == domain.OutcomeCreated {
				if createErr != nil {
					it.Outcome, it.Reason = domain.OutcomeFailed, orgWords(createErr)
					im.Count(it.Outcome)
					continue
				}
				it.OrganizationID = created[it.Name]
				if err := tx.UpsertOrganization(ctx, accountID, store.OrgCopy{ID: it.OrganizationID, Name: it.Name, Active: true, Updated: now}); err != nil {
					return err
				}
			}
			previous := ""
			if it.Planned == domain.OutcomeRelinked {
				old, has, err := tx.LinkOf(ctx, it.OrganizationID, im.IntegrationID)
				if err != nil {
					return err
				}
				if has {
					previous = old.ExternalOrganizationID
					if err := tx.DeleteLink(ctx, old.ID); err != nil {
						return err
					}
				}
			}
			l := domain.Link{AccountID: accountID, OrganizationID: it.OrganizationID, IntegrationID: im.IntegrationID,
				ExternalOrganizationID: it.ExternalID, ExternalName: it.Name, Method: domain.MethodImport, CreatedBy: im.CreatedBy, Created: now}
			id, ok, err := tx.InsertLinkIfFree(ctx, l)
			if err != nil {
				return err
			}
			if !ok {
				// A concurrent import, batch or sync linked one side first: never two links. (This
				// import's own links commit with its outcomes, so it is never its own work.)
				it.Outcome, it.Reason = domain.OutcomeFailed, "linked meanwhile by another import or user"
				im.Count(it.Outcome)
				continue
			}
			l.ID = id
			it.Outcome = it.Planned
			im.Count(it.Outcome)
			touched = append(touched, it.OrganizationID)
			evs = append(evs, &mappingv1.MappingLinked{AccountId: accountID, Link: pbconv.Link(l), PreviousExternalOrganizationId: previous})
		}
		if err := tx.SaveItems(ctx, importID, items); err != nil {
			return err
		}
		if err := tx.BumpVersions(ctx, touched); err != nil {
			return err
		}
		if err := tx.EnqueueBatch(ctx, evs, now); err != nil {
			return err
		}
		return tx.SaveImport(ctx, im)
	})
}

// orgWords is org's refusal of a chunk's creations, for the items' reasons.
func orgWords(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}
