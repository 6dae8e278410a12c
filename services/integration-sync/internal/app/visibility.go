package app

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// OrganizationSyncState is how one organization stands with one PSA integration (values as in
// the API).
type OrganizationSyncState int16

// Organization sync states.
const (
	OrgSyncing  OrganizationSyncState = 1
	OrgPending  OrganizationSyncState = 2
	OrgError    OrganizationSyncState = 3
	OrgDisabled OrganizationSyncState = 4
	OrgOrphaned OrganizationSyncState = 5
	OrgOff      OrganizationSyncState = 6
)

// OrganizationSync is one organization's sync with one PSA integration.
type OrganizationSync struct {
	OrganizationID, IntegrationID, IntegrationKind string
	// ExternalID is the linked company ("" while none).
	ExternalID string
	State      OrganizationSyncState
	Reason     string
	LastSync   time.Time
	LastResult string
	// BlocksDeletion: org was last told the integration syncs the organization, so it refuses
	// to delete it.
	BlocksDeletion bool
}

// ReasonWaitingLicense is why a pending organization waits.
const ReasonWaitingLicense = "waiting for a free license"

// errOrganizationNotFound answers for an organization the caller may not see: as for one that
// does not exist.
var errOrganizationNotFound = apperr.NotFound("organization not found")

// ListOrganizationSyncs says how an organization stands with each PSA integration that links it
// or has a change of it waiting, a page at a time by integration kind, and returns the token of
// the next page ("" on the last).
//
// Group visibility: integration-sync's copy of an organization holds its groups (from org's
// events); a caller limited to some groups sees an organization of one of them, and gets
// NotFound for any other, as for one that does not exist.
func (s *Service) ListOrganizationSyncs(ctx context.Context, accountID, organizationID string, size int32, token string) ([]OrganizationSync, string, error) {
	// The token is checked first, as on every list: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[syncPosition](ctx, s.pages, "organization syncs", size, token, accountID, organizationID)
	if err != nil {
		return nil, "", err
	}
	id, err := identity.ForAccount(ctx, accountID, domain.PermRead)
	if err != nil {
		return nil, "", err
	}
	orgID, err := uuid.Parse(organizationID)
	if err != nil {
		return nil, "", apperr.Invalid("organizationId", "is not a UUID")
	}
	organizationID = orgID.String()
	var psa []string
	for _, name := range s.kinds.Names() {
		if s.kinds[name].PSA {
			psa = append(psa, name)
		}
	}
	var out []OrganizationSync
	var next string
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		out = nil
		// Known from org's events; a group-limited caller sees it through one of its groups.
		org, ok, err := tx.Organization(ctx, organizationID)
		if err != nil {
			return err
		}
		if restricted, groups := id.Visibility(); !ok || !org.VisibleTo(restricted, groups) {
			return errOrganizationNotFound
		}
		integs, err := tx.OrganizationSyncIntegrations(ctx, psa, organizationID, page.After.Kind, page.After.ID, page.Size+1)
		if err != nil {
			return err
		}
		// The page ends at an integration, whatever the checks below leave of it.
		integs, next, err = pagetoken.Next(page, integs, func(in domain.Integration) syncPosition {
			return syncPosition{Kind: in.Kind, ID: in.ID}
		})
		if err != nil {
			return err
		}
		tasks, err := tx.OrganizationTasks(ctx, organizationID)
		if err != nil {
			return err
		}
		for _, in := range integs {
			link, linked, err := tx.LinkedExternal(ctx, in.ID, organizationID, false)
			if err != nil {
				return err
			}
			var task *store.SyncTask
			for k := range tasks {
				if tasks[k].IntegrationID == in.ID {
					task = &tasks[k]
				}
			}
			if !linked && task == nil { // unlinked and done since the integrations were read
				continue
			}
			o := OrganizationSync{OrganizationID: organizationID, IntegrationID: in.ID, IntegrationKind: in.Kind}
			if linked {
				o.ExternalID, o.LastSync, o.LastResult = link.ExternalID, link.LastSync, link.LastSyncResult
			} else {
				link = domain.ExternalOrganization{}
			}
			o.State, o.Reason = syncState(in, linked, link, task)
			if o.BlocksDeletion, err = tx.SaysSyncing(ctx, in.ID, organizationID); err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

type syncPosition struct {
	Kind string `json:"k"`
	ID   string `json:"i"`
}

// syncState is where an organization stands with an integration. What the company says comes
// first (orphaned, disabled: nothing syncs however the integration is set), then the
// integration's own switch (off or paused: its waiting changes wait for it), then a change on
// its way (failing, waiting for a license, or just queued), else it syncs.
func syncState(in domain.Integration, linked bool, link domain.ExternalOrganization, task *store.SyncTask) (OrganizationSyncState, string) {
	switch {
	case linked && link.State == domain.ExternalOrphaned:
		return OrgOrphaned, link.StateReason
	case linked && link.State == domain.ExternalSyncDisabled:
		return OrgDisabled, cmp.Or(link.StateReason, "sync disabled")
	case in.Paused:
		return OrgOff, "the integration is paused"
	case in.Sync.Direction == domain.SyncOff || in.Sync.Direction == 0:
		return OrgOff, "the integration's sync is off"
	case task != nil && task.State == domain.TaskFailing:
		return OrgError, task.Reason
	case task != nil && task.State == domain.TaskWaitingLicense:
		return OrgPending, ReasonWaitingLicense
	case task != nil:
		return OrgPending, cmp.Or(task.Reason, "waiting to be synced")
	case linked && link.State == domain.ExternalSyncError:
		return OrgError, link.StateReason
	}
	return OrgSyncing, ""
}

// SyncLogQuery selects a page of an integration's sync log.
type SyncLogQuery struct {
	AccountID, IntegrationID string
	OrganizationID, Action   string
	PageSize                 int32
	PageToken                string
}

type syncLogPosition struct {
	ID int64 `json:"i"`
}

// ListSyncLog lists an integration's sync log, newest first.
func (s *Service) ListSyncLog(ctx context.Context, q SyncLogQuery) ([]domain.SyncLogEntry, string, error) {
	if _, err := identity.ForAccount(ctx, q.AccountID, domain.PermRead); err != nil {
		return nil, "", err
	}
	if q.OrganizationID != "" {
		id, err := uuid.Parse(q.OrganizationID)
		if err != nil {
			return nil, "", apperr.Invalid("organizationId", "is not a UUID")
		}
		q.OrganizationID = id.String()
	}
	q.Action = strings.TrimSpace(q.Action)
	page, err := pagetoken.Open[syncLogPosition](ctx, s.pages, "sync log", q.PageSize, q.PageToken,
		q.AccountID, q.IntegrationID, q.OrganizationID, q.Action)
	if err != nil {
		return nil, "", err
	}
	f := store.SyncLogFilter{OrganizationID: q.OrganizationID, Action: q.Action, Limit: page.Size + 1}
	if page.Continues {
		f.BeforeID = page.After.ID
	}
	var list []domain.SyncLogEntry
	err = s.store.InTenant(ctx, q.AccountID, func(tx *store.Tx) error {
		if _, err := tx.Integration(ctx, q.IntegrationID, false); err != nil {
			return err
		}
		var err error
		list, err = tx.SyncLog(ctx, q.IntegrationID, f)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, list, func(e domain.SyncLogEntry) syncLogPosition { return syncLogPosition{ID: e.ID} })
}
