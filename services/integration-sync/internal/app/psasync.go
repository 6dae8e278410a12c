package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/pbconv"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
	"github.com/orgplane/orgplane/services/integration-sync/internal/transport"
)

// The PSA sync. Orgplane's organization events and the tools' changes (refreshes, webhooks)
// become sync tasks, one per organization (or new company) and integration, coalesced; workers
// claim due tasks across replicas and reconcile each pair against its base (domain.PlanSync),
// calling the PSA or org outside any transaction and recording the outcome in one. A task
// stays until its outcome is recorded, so a crash or a PSA that is down delays a change and
// never loses it; a create records that it started, and its retry looks for the company before
// creating another.

// syncActor is who the sync's own changes to cached companies are recorded as.
const syncActor = "sync"

// SyncAuthor is the author org records for a change the sync of integrationID made.
func SyncAuthor(integrationID string) string { return "integration-sync:" + integrationID }

// psaKinds are the names of the kinds that are PSAs.
func (s *Service) psaKinds() []string {
	var out []string
	for name, k := range s.kinds {
		if k.PSA {
			out = append(out, name)
		}
	}
	return out
}

// syncs reports whether an integration's sync runs at all.
func syncs(in domain.Integration) bool {
	return !in.Paused && in.Sync.Direction != domain.SyncOff && in.Sync.Direction != 0
}

// OrganizationChanged applies one of org's organization events (not a deletion): the copy, and
// a task for every PSA integration that should hear of it. changedBy is the event's author: a
// change the sync of an integration made is not sent back to that integration.
func (s *Service) OrganizationChanged(ctx context.Context, tx *store.Tx, o domain.Organization, changedBy string) error {
	if err := tx.UpsertOrganization(ctx, o); err != nil {
		return err
	}
	integs, err := tx.PSAIntegrations(ctx, s.psaKinds())
	if err != nil {
		return err
	}
	for _, in := range integs {
		if !syncs(in) || changedBy == SyncAuthor(in.ID) {
			continue
		}
		linked, ok, err := tx.LinkedExternal(ctx, in.ID, o.ID, false)
		if err != nil {
			return err
		}
		switch {
		case ok && linked.State != domain.ExternalSyncing:
			continue
		case !ok && !(in.Sync.Direction.Pushes() && in.Sync.Scope.InOrgScope(o)):
			continue
		}
		if err := tx.TouchOrganizationTask(ctx, o.AccountID, in.ID, o.ID, s.clock()); err != nil {
			return err
		}
		events.AfterCommit(ctx, s.wakeSync)
	}
	return nil
}

// OrganizationDeleted forgets a deleted organization: its copy, its tasks, and its links (the
// guard's rows in org go with the organization).
func (s *Service) OrganizationDeleted(ctx context.Context, tx *store.Tx, accountID, organizationID string) error {
	unlinked, err := tx.UnlinkOrganization(ctx, organizationID)
	if err != nil {
		return err
	}
	for integ, ids := range unlinked {
		if err := tx.PublishSyncing(ctx, accountID, integ, ids, s.clock()); err != nil {
			return err
		}
	}
	if err := tx.DeleteOrganization(ctx, organizationID); err != nil {
		return err
	}
	return s.LicenseMayHaveFreed(ctx, tx)
}

// LicenseMayHaveFreed wakes the tenant's companies waiting for a license: an organization was
// deleted or deactivated, or the subscription changed.
func (s *Service) LicenseMayHaveFreed(ctx context.Context, tx *store.Tx) error {
	if err := tx.WakeLicenseWaiters(ctx); err != nil {
		return err
	}
	events.AfterCommit(ctx, s.wakeSync)
	return nil
}

// Linked applies mapping.linked: the company's link, and a task that takes the pair's base
// (linking writes neither side; later changes flow).
func (s *Service) Linked(ctx context.Context, tx *store.Tx, accountID, integrationID, externalID, organizationID string) error {
	touched, err := tx.SetLink(ctx, integrationID, externalID, organizationID)
	if err != nil || len(touched) == 0 {
		return err
	}
	now := s.clock()
	if err := tx.PublishSyncing(ctx, accountID, integrationID, touched, now); err != nil {
		return err
	}
	in, err := tx.Integration(ctx, integrationID, false)
	if errors.Is(err, domain.ErrIntegrationNotFound) {
		return nil
	}
	if err != nil || !syncs(in) {
		return err
	}
	events.AfterCommit(ctx, s.wakeSync)
	return tx.TouchOrganizationTask(ctx, accountID, integrationID, organizationID, now)
}

// Unlinked applies mapping.unlinked.
func (s *Service) Unlinked(ctx context.Context, tx *store.Tx, accountID, integrationID, externalID, organizationID string) error {
	if err := tx.ClearLink(ctx, integrationID, externalID, organizationID); err != nil {
		return err
	}
	return tx.PublishSyncing(ctx, accountID, integrationID, []string{externalID}, s.clock())
}

// externalsChanged is the sync's part of recording companies a refresh or webhook saw: org's
// guard hears of pairs that stopped or started syncing, a changed linked company gets its pair
// reconciled, and a new or changed unlinked one is pulled in when the direction pulls. The
// caller wakes the sync workers once its transaction has committed.
func (s *Service) externalsChanged(ctx context.Context, tx *store.Tx, accountID, integrationID string, changed []domain.ExternalOrganization, ids []string) error {
	now := s.clock()
	if err := tx.PublishSyncing(ctx, accountID, integrationID, ids, now); err != nil {
		return err
	}
	if len(changed) == 0 {
		return nil
	}
	in, err := tx.Integration(ctx, integrationID, false)
	if err != nil {
		return err
	}
	if k, ok := s.kinds[in.Kind]; !ok || !k.PSA || !syncs(in) {
		return nil
	}
	for _, e := range changed {
		if e.State != domain.ExternalSyncing || e.Deleted {
			continue
		}
		switch {
		case e.OrganizationID != "":
			err = tx.TouchOrganizationTask(ctx, accountID, integrationID, e.OrganizationID, now)
		case in.Sync.Direction.Pulls():
			err = tx.TouchExternalTask(ctx, accountID, integrationID, e.ExternalID, now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// wakeSync tells this process's sync workers there is new work.
func (s *Service) wakeSync() {
	select {
	case s.syncWake <- struct{}{}:
	default:
	}
}

// RunSync runs the sync workers until ctx ends.
func (s *Service) RunSync(ctx context.Context) error {
	var wg sync.WaitGroup
	for range max(s.cfg.SyncWorkers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.syncLoop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (s *Service) syncLoop(ctx context.Context) {
	for ctx.Err() == nil {
		var claims []store.TaskClaim
		err := s.store.InSystem(ctx, func(tx *store.Tx) error {
			var err error
			claims, err = tx.ClaimTasks(ctx, s.owner, s.cfg.Lease, 1)
			return err
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claim sync task", "error", err)
		}
		for _, c := range claims {
			if err := s.runTask(ctx, c); err != nil && ctx.Err() == nil {
				// The lease runs out and the task is tried again: nothing is lost.
				s.log.Warn("sync task", "task", c.TaskID, "error", err)
			}
		}
		if len(claims) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.syncWake:
		case <-time.After(s.cfg.Poll):
		}
	}
}

// taskView is what one task works from, read in one transaction.
type taskView struct {
	task   store.SyncTask
	integ  domain.Integration
	org    domain.Organization
	hasOrg bool
	// linked is the company linked to the task's organization (or the task's company).
	linked    domain.ExternalOrganization
	hasLinked bool
	// parentExternal is the company of the organization's parent, when linked.
	parentExternal string
	// parentPending: the parent is about to be created in the PSA; the child waits for it.
	parentPending bool
}

func (s *Service) runTask(ctx context.Context, c store.TaskClaim) error {
	// The lease is renewed while the task works: a slow PSA or a loaded machine must not let
	// another worker take the task while this one may be creating its company.
	hold, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(max(s.cfg.Lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-hold.Done():
				return
			case <-t.C:
				if err := s.store.InSystem(hold, func(tx *store.Tx) error {
					return tx.RenewTaskLease(hold, c.TaskID, s.owner, s.cfg.Lease)
				}); err != nil && hold.Err() == nil {
					s.log.Warn("renew sync task lease", "task", c.TaskID, "error", err)
				}
			}
		}
	}()
	return s.runClaimedTask(ctx, c)
}

func (s *Service) runClaimedTask(ctx context.Context, c store.TaskClaim) error {
	var v taskView
	gone := false
	err := s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		var ok bool
		var err error
		if v.task, ok, err = tx.Task(ctx, c.TaskID); err != nil || !ok {
			gone = !ok
			return err
		}
		if v.integ, err = tx.Integration(ctx, v.task.IntegrationID, false); err != nil {
			return err
		}
		if !syncs(v.integ) {
			gone = true
			return tx.DropTask(ctx, v.task.ID)
		}
		return s.readTask(ctx, tx, &v)
	})
	if errors.Is(err, domain.ErrIntegrationNotFound) {
		gone = true
		err = nil
	}
	if err != nil || gone {
		if gone {
			return s.store.InSystem(ctx, func(tx *store.Tx) error { return tx.ForgetQueued(ctx, c.TaskID) })
		}
		return err
	}
	var conn connector.Connector
	if conn, err = s.syncConnector(ctx, v.integ); err != nil {
		return s.taskFailed(ctx, v, err)
	}
	if v.task.OrganizationID != "" || v.hasLinked {
		if !v.hasOrg {
			return s.finish(ctx, v, nil)
		}
		if v.hasLinked {
			return s.syncPair(ctx, v, conn)
		}
		return s.pushCreate(ctx, v, conn)
	}
	return s.pullCreate(ctx, v)
}

// readTask fills v from the task: the organization, its linked company and parent's company,
// or the task's company.
func (s *Service) readTask(ctx context.Context, tx *store.Tx, v *taskView) error {
	var err error
	orgID := v.task.OrganizationID
	if orgID == "" {
		cached, err := tx.ExternalsForUpdate(ctx, v.integ.ID, []string{v.task.ExternalID})
		if err != nil {
			return err
		}
		e, ok := cached[v.task.ExternalID]
		if !ok {
			return tx.DropTask(ctx, v.task.ID)
		}
		v.linked, v.hasLinked = e, e.OrganizationID != ""
		orgID = e.OrganizationID
		if !v.hasLinked {
			v.linked = e
			return nil
		}
	} else if v.linked, v.hasLinked, err = tx.LinkedExternal(ctx, v.integ.ID, orgID, false); err != nil {
		return err
	}
	if v.org, v.hasOrg, err = tx.Organization(ctx, orgID); err != nil || !v.hasOrg {
		return err
	}
	if v.org.ParentID != "" && !v.hasLinked {
		parent, ok, err := tx.LinkedExternal(ctx, v.integ.ID, v.org.ParentID, false)
		if err != nil {
			return err
		}
		if ok {
			v.parentExternal = parent.ExternalID
		} else {
			tasks, err := tx.OrganizationTasks(ctx, v.org.ParentID)
			if err != nil {
				return err
			}
			for _, t := range tasks {
				v.parentPending = v.parentPending || t.IntegrationID == v.integ.ID
			}
		}
	}
	return nil
}

// connectors caches each integration's connector for a short while: building one opens its
// credentials and configures its budget, too much for every push of a burst.
type connectorCache struct {
	mu      sync.Mutex
	entries map[string]cachedConnector
}

type cachedConnector struct {
	conn    connector.Connector
	updated time.Time
	built   time.Time
}

func (s *Service) syncConnector(ctx context.Context, in domain.Integration) (connector.Connector, error) {
	s.conns.mu.Lock()
	e, ok := s.conns.entries[in.ID]
	s.conns.mu.Unlock()
	if ok && e.updated.Equal(in.Updated) && time.Since(e.built) < 30*time.Second {
		return e.conn, nil
	}
	t, err := s.readTarget(ctx, in.AccountID, in.ID)
	if err != nil {
		return nil, err
	}
	conn, _, err := s.connect(ctx, t)
	if err != nil {
		return nil, err
	}
	s.conns.mu.Lock()
	if s.conns.entries == nil {
		s.conns.entries = map[string]cachedConnector{}
	}
	s.conns.entries[in.ID] = cachedConnector{conn: conn, updated: in.Updated, built: time.Now()}
	s.conns.mu.Unlock()
	return conn, nil
}

// syncPair reconciles a linked pair: what changed on one side since the base goes to the other.
func (s *Service) syncPair(ctx context.Context, v taskView, conn connector.Connector) error {
	if v.linked.State != domain.ExternalSyncing {
		return s.finish(ctx, v, nil)
	}
	if v.linked.Base == nil {
		return s.finish(ctx, v, &store.SyncOutcome{Base: domain.Base{Org: v.org.Values(), PSA: v.linked.Values()},
			At: s.clock(), Result: "linked: in step from now on"})
	}
	plan := domain.PlanSync(v.linked.Base, v.org, v.linked, v.integ.Sync.Direction, v.integ.Sync.Mappings)
	if !v.integ.Sync.Scope.InOrgScope(v.org) {
		plan.ToPSA, plan.ToPSAFields = connector.Changes{}, nil
	}
	psaAfter, orgAfter := v.linked, v.org
	var entries []domain.SyncLogEntry
	log := func(side domain.Side, action string, fields []string, msg string) {
		entries = append(entries, domain.SyncLogEntry{AccountID: v.integ.AccountID, IntegrationID: v.integ.ID, Side: side,
			Action: action, OrganizationID: v.org.ID, ExternalID: v.linked.ExternalID, Fields: fields, Message: msg})
	}
	for _, c := range plan.Conflicts {
		winner := "the PSA's change won (it was newer)"
		if c.Winner == domain.ToPSA {
			winner = "Orgplane's change won (it was newer)"
		}
		log(c.Winner, domain.LogConflict, []string{c.Field}, fmt.Sprintf("%s changed on both sides: Orgplane %q at %s, the PSA %q at %s; %s",
			c.Field, c.OrgValue, c.OrgAt.Format(time.RFC3339), c.PSAValue, c.PSAAt.Format(time.RFC3339), winner))
	}
	if len(plan.ToPSAFields) > 0 {
		co, err := conn.UpdateOrganization(ctx, v.linked.ExternalID, plan.ToPSA)
		if err != nil {
			return s.taskFailed(ctx, v, err)
		}
		next, _ := domain.Reconcile(&v.linked, co, v.integ.Sync.Scope.InScope(co), s.clock(), syncActor)
		psaAfter = next
		log(domain.ToPSA, domain.LogUpdated, plan.ToPSAFields, "Orgplane's change written to the PSA")
	}
	if len(plan.ToOrgFields) > 0 {
		err := s.orgs.UpdateSynced(ctx, v.integ.AccountID, v.integ.ID, v.org.ID, plan.ToOrg)
		switch apperr.KindOf(err) {
		case apperr.KindUnavailable:
			return s.taskFailed(ctx, v, err)
		default:
			if err != nil {
				// org refused (a name another organization has, the 12-month rule): the two sides
				// stay apart, the log says why, and the pair is not retried until one changes.
				log(domain.FromPSA, domain.LogError, plan.ToOrgFields, "Orgplane refused the PSA's change: "+errMessage(err))
				break
			}
			applyOrgChanges(&orgAfter, plan.ToOrg)
			log(domain.FromPSA, domain.LogUpdated, plan.ToOrgFields, "the PSA's change applied to Orgplane")
		}
	}
	result := "in step"
	if len(entries) > 0 {
		result = entries[len(entries)-1].Message
	}
	return s.record(ctx, v, func(tx *store.Tx, now time.Time) error {
		if len(plan.ToPSAFields) > 0 {
			psaAfter.AccountID, psaAfter.IntegrationID, psaAfter.IntegrationKind = v.integ.AccountID, v.integ.ID, v.integ.Kind
			if err := tx.UpsertExternals(ctx, v.integ.AccountID, v.integ.ID, []domain.ExternalOrganization{psaAfter}); err != nil {
				return err
			}
			if err := tx.Enqueue(ctx, &integrationsyncv1.ExternalOrganizationChanged{AccountId: v.integ.AccountID,
				ExternalOrganization: pbconv.External(psaAfter)}, now); err != nil {
				return err
			}
		}
		if err := appendLog(ctx, tx, now, entries); err != nil {
			return err
		}
		return tx.RecordSync(ctx, v.integ.ID, v.linked.ExternalID, store.SyncOutcome{
			Base: domain.Base{Org: orgAfter.Values(), PSA: psaAfter.Values()}, At: now, Result: result})
	})
}

func applyOrgChanges(o *domain.Organization, ch domain.OrgChanges) {
	if ch.Name != nil {
		o.Name = *ch.Name
	}
	if ch.TypeID != nil {
		o.TypeID = *ch.TypeID
	}
	if ch.StatusID != nil {
		o.StatusID = *ch.StatusID
	}
	if ch.Active != nil {
		o.Active = *ch.Active
	}
}

// pushCreate creates an in-scope organization's company in the PSA and asks mapping to link it.
func (s *Service) pushCreate(ctx context.Context, v taskView, conn connector.Connector) error {
	if !v.integ.Sync.Direction.Pushes() || !v.integ.Sync.Scope.InOrgScope(v.org) {
		return s.finish(ctx, v, nil)
	}
	if v.parentPending {
		return s.postpone(ctx, v, domain.TaskPending, "waiting for its parent organization to reach the PSA", 2*time.Second)
	}
	nc := domain.NewCompanyFor(v.org, v.parentExternal, v.integ.Sync.Mappings)
	kind := s.kinds[v.integ.Kind]
	n := 0
	if kind.Identifier != nil {
		nc.Identifier = kind.Identifier(nc.Name, 0)
		for k := range 21 {
			if v.task.Identifier == kind.Identifier(nc.Name, k) {
				n, nc.Identifier = k, v.task.Identifier
			}
		}
	}
	var co connector.Company
	found := false
	if !v.task.CreateStarted.IsZero() {
		// An earlier attempt may have created it and stopped before recording it. What the
		// lookup finds is ours only if it has our name: an identifier can be a stranger's.
		c, err := conn.FindOrganization(ctx, nc)
		switch {
		case err == nil && strings.TrimSpace(c.Name) == nc.Name:
			co, found = c, true
		case err == nil, errors.Is(err, connector.ErrNotFound), errors.Is(err, connector.ErrUnsupported):
		default:
			return s.taskFailed(ctx, v, err)
		}
	}
	for !found {
		if err := s.store.InTenant(ctx, v.integ.AccountID, func(tx *store.Tx) error {
			return tx.MarkCreateStarted(ctx, v.task.ID, nc.Identifier, s.clock())
		}); err != nil {
			return err
		}
		c, err := conn.CreateOrganization(ctx, nc)
		if errors.Is(err, connector.ErrIdentifierTaken) && kind.Identifier != nil && n < 20 {
			n++
			nc.Identifier = kind.Identifier(nc.Name, n)
			continue
		}
		if err != nil {
			return s.taskFailed(ctx, v, err)
		}
		co, found = c, true
	}
	return s.record(ctx, v, func(tx *store.Tx, now time.Time) error {
		cached, err := tx.ExternalsForUpdate(ctx, v.integ.ID, []string{co.ExternalID})
		if err != nil {
			return err
		}
		var prev *domain.ExternalOrganization
		if e, ok := cached[co.ExternalID]; ok {
			prev = &e
		}
		next, change := domain.Reconcile(prev, co, v.integ.Sync.Scope.InScope(co), now, syncActor)
		next.AccountID, next.IntegrationID, next.IntegrationKind = v.integ.AccountID, v.integ.ID, v.integ.Kind
		if change == domain.Unchanged {
			change = domain.Changed
		}
		if err := tx.UpsertExternals(ctx, v.integ.AccountID, v.integ.ID, []domain.ExternalOrganization{next}); err != nil {
			return err
		}
		return s.linkNew(ctx, tx, v, next, change, false, domain.ToPSA, "created in the PSA", now)
	})
}

// pullCreate brings a new in-scope PSA company into Orgplane: linked to the organization of
// exactly its name when there is an unlinked one, else created (license permitting).
func (s *Service) pullCreate(ctx context.Context, v taskView) error {
	e := v.linked
	if !v.integ.Sync.Direction.Pulls() || e.State != domain.ExternalSyncing || e.Deleted {
		return s.finish(ctx, v, nil)
	}
	var existing, parentOrg string
	var taken bool
	err := s.store.InTenant(ctx, v.integ.AccountID, func(tx *store.Tx) error {
		id, ok, err := tx.OrganizationByName(ctx, e.Name)
		if err != nil || !ok {
			return err
		}
		existing = id
		_, taken, err = tx.LinkedExternal(ctx, v.integ.ID, id, false)
		if err != nil || e.ParentID == "" {
			return err
		}
		parents, err := tx.ExternalsForUpdate(ctx, v.integ.ID, []string{e.ParentID})
		if err != nil {
			return err
		}
		parentOrg = parents[e.ParentID].OrganizationID
		return nil
	})
	if err != nil {
		return err
	}
	if existing != "" && !taken {
		return s.record(ctx, v, func(tx *store.Tx, now time.Time) error {
			org, _, err := tx.Organization(ctx, existing)
			if err != nil {
				return err
			}
			v.org = org
			return s.linkNew(ctx, tx, v, e, domain.Changed, false, domain.FromPSA, "linked to the organization of the same name", now)
		})
	}
	o := domain.Organization{Name: e.Name, ParentID: parentOrg, Active: true}
	o.TypeID, _ = v.integ.Sync.Mappings.OrgType(e.TypeID)
	o.StatusID, _ = v.integ.Sync.Mappings.OrgStatus(e.StatusID)
	// One request id per task: a retry after a crash gets the organization the first attempt made.
	requestID := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "orgplane-sync-%d-%d", v.task.ID, v.task.Created.UnixNano())).String()
	orgID, err := s.orgs.CreateSynced(ctx, v.integ.AccountID, v.integ.ID, requestID, o)
	if err != nil {
		return s.taskFailed(ctx, v, err)
	}
	o.ID, o.AccountID = orgID, v.integ.AccountID
	v.org = o
	return s.record(ctx, v, func(tx *store.Tx, now time.Time) error {
		return s.linkNew(ctx, tx, v, e, domain.Changed, true, domain.FromPSA, "created in Orgplane", now)
	})
}

// linkNew records a pair the sync made (a company created for an organization, or an
// organization for a company): the link, its base, the event that asks mapping to link them,
// org's guard, the log.
func (s *Service) linkNew(ctx context.Context, tx *store.Tx, v taskView, e domain.ExternalOrganization, change domain.Change,
	createdBySync bool, side domain.Side, result string, now time.Time) error {
	touched, err := tx.SetLink(ctx, v.integ.ID, e.ExternalID, v.org.ID)
	if err != nil {
		return err
	}
	e.OrganizationID = v.org.ID
	p := pbconv.External(e)
	var ev proto.Message = &integrationsyncv1.ExternalOrganizationChanged{AccountId: v.integ.AccountID, ExternalOrganization: p,
		LinkOrganizationId: v.org.ID}
	if change == domain.Created {
		ev = &integrationsyncv1.ExternalOrganizationCreated{AccountId: v.integ.AccountID, ExternalOrganization: p, LinkOrganizationId: v.org.ID}
	}
	if err := tx.Enqueue(ctx, ev, now); err != nil {
		return err
	}
	if err := tx.PublishSyncing(ctx, v.integ.AccountID, v.integ.ID, append(touched, e.ExternalID), now); err != nil {
		return err
	}
	action := domain.LogCreated
	if !createdBySync && side == domain.FromPSA {
		action = domain.LogLinked
	}
	if err := appendLog(ctx, tx, now, []domain.SyncLogEntry{{AccountID: v.integ.AccountID, IntegrationID: v.integ.ID, Side: side,
		Action: action, OrganizationID: v.org.ID, ExternalID: e.ExternalID, Fields: []string{"name"}, Message: result}}); err != nil {
		return err
	}
	return tx.RecordSync(ctx, v.integ.ID, e.ExternalID, store.SyncOutcome{Base: domain.Base{Org: v.org.Values(), PSA: e.Values()},
		At: now, Result: result, CreatedBySync: createdBySync})
}

// record commits a task's outcome with the task's completion.
func (s *Service) record(ctx context.Context, v taskView, fn func(tx *store.Tx, now time.Time) error) error {
	now := s.clock()
	return s.store.InTenant(ctx, v.integ.AccountID, func(tx *store.Tx) error {
		if err := fn(tx, now); err != nil {
			return err
		}
		return tx.FinishTask(ctx, v.task)
	})
}

// finish ends a task with nothing to do, or with a pair's new base.
func (s *Service) finish(ctx context.Context, v taskView, o *store.SyncOutcome) error {
	return s.record(ctx, v, func(tx *store.Tx, _ time.Time) error {
		if o == nil {
			return nil
		}
		return tx.RecordSync(ctx, v.integ.ID, v.linked.ExternalID, *o)
	})
}

// taskFailed keeps a task for a later attempt and says why: the tool down or refusing, org
// down, or no license free for a new organization.
func (s *Service) taskFailed(ctx context.Context, v taskView, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	state, reason, after := domain.TaskFailing, errMessage(err), domain.TaskBackoff(v.task.Attempts+1)
	var ae *apperr.Error
	switch {
	case errors.Is(err, connector.ErrUnauthorized), errors.Is(err, transport.ErrStopped):
		reason = "the PSA refused the integration's credentials: " + vendorMessage(err)
	case errors.Is(err, connector.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		reason = "the PSA is unavailable: " + vendorMessage(err)
	case errors.Is(err, connector.ErrRejected):
		reason = "the PSA refused the change: " + vendorMessage(err)
	case errors.As(err, &ae) && (ae.Kind == apperr.KindResourceExhausted || strings.Contains(ae.Reason, "LICENSE")):
		state, reason, after = domain.TaskWaitingLicense, "waiting for a free license: "+ae.Message, domain.LicenseWait
	}
	return s.postpone(ctx, v, state, reason, after)
}

func (s *Service) postpone(ctx context.Context, v taskView, state int16, reason string, after time.Duration) error {
	now := s.clock()
	return s.store.InTenant(ctx, v.integ.AccountID, func(tx *store.Tx) error {
		if err := tx.PostponeTask(ctx, v.task.ID, state, reason, after, now); err != nil {
			return err
		}
		if v.task.State == state && v.task.Reason == reason || state == domain.TaskPending {
			return nil // said once, not at every retry
		}
		side, orgID, extID := domain.ToPSA, v.org.ID, v.linked.ExternalID
		if v.task.OrganizationID == "" && !v.hasLinked {
			side = domain.FromPSA
		}
		action := domain.LogError
		if state == domain.TaskWaitingLicense {
			action = domain.LogWaiting
		} else if err := tx.Enqueue(ctx, &integrationsyncv1.SyncFailed{AccountId: v.integ.AccountID, IntegrationId: v.integ.ID,
			OrganizationId: orgID, ExternalId: extID, Reason: reason}, now); err != nil {
			return err
		}
		return appendLog(ctx, tx, now, []domain.SyncLogEntry{{AccountID: v.integ.AccountID, IntegrationID: v.integ.ID, Side: side,
			Action: action, OrganizationID: orgID, ExternalID: extID, Message: reason}})
	})
}

func appendLog(ctx context.Context, tx *store.Tx, at time.Time, entries []domain.SyncLogEntry) error {
	for i := range entries {
		entries[i].At = at
	}
	return tx.AppendSyncLog(ctx, entries...)
}

func errMessage(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return vendorMessage(err)
}

// changedOnly keeps the companies a reconcile created or changed.
func changedOnly(list []domain.ExternalOrganization, changes []domain.Change) []domain.ExternalOrganization {
	var out []domain.ExternalOrganization
	for i, e := range list {
		if changes[i] == domain.Created || changes[i] == domain.Changed {
			out = append(out, e)
		}
	}
	return out
}
