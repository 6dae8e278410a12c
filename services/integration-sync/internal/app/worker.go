package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/pbconv"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
	"github.com/orgplane/orgplane/services/integration-sync/internal/transport"
)

const refreshActor = "refresh"

// RunOperations runs refreshes until ctx ends: cfg.Workers loops, each claiming the most overdue
// queued operation (one worker per operation across every replica, by lease), running it page by
// page, and committing each page with its checkpoint.
func (s *Service) RunOperations(ctx context.Context) error {
	var wg sync.WaitGroup
	for range max(s.cfg.Workers, 1) {
		wg.Go(func() { s.operationLoop(ctx) })
	}
	wg.Wait()
	return nil
}

func (s *Service) operationLoop(ctx context.Context) {
	for ctx.Err() == nil {
		var claim store.Claim
		var ok bool
		err := s.store.InSystem(ctx, func(tx *store.Tx) error {
			var err error
			claim, ok, err = tx.ClaimOperation(ctx, s.owner, s.cfg.Lease)
			return err
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claim operation", "error", err)
		}
		if err == nil && ok {
			s.runClaimed(ctx, claim)
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-time.After(s.cfg.Poll):
		}
	}
}

// runClaimed runs one leased operation, renewing the lease while it works; a lost lease (this
// process stalled, another took over) stops it without a further write.
func (s *Service) runClaimed(ctx context.Context, c store.Claim) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(s.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				err := s.store.InSystem(ctx, func(tx *store.Tx) error {
					return tx.RenewLease(ctx, c.OperationID, s.owner, s.cfg.Lease)
				})
				if errors.Is(err, store.ErrLeaseLost) {
					cancel(err)
					return
				}
			}
		}
	}()
	err := s.refresh(ctx, c)
	switch {
	case err == nil, ctx.Err() != nil:
	default:
		s.log.Warn("refresh attempt failed; it will be retried", "operation", c.OperationID, "error", err)
		_ = s.store.InSystem(context.WithoutCancel(ctx), func(tx *store.Tx) error {
			return tx.Postpone(ctx, c.OperationID, s.owner, 5*time.Second)
		})
	}
}

// refresh reads the listing from the operation's checkpoint to its end; the same lease runs a
// disconnect that deletes the data.
func (s *Service) refresh(ctx context.Context, c store.Claim) error {
	var op domain.Operation
	var t target
	err := s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		var err error
		if op, err = tx.Operation(ctx, c.OperationID, false); err != nil {
			return err
		}
		if t.integration, err = tx.Integration(ctx, op.IntegrationID, false); err != nil {
			return err
		}
		t.credentials, err = tx.Credentials(ctx, op.IntegrationID)
		return err
	})
	if errors.Is(err, domain.ErrOperationNotFound) || errors.Is(err, domain.ErrIntegrationNotFound) {
		return nil // deleted with its integration; its queue row went too
	}
	if err != nil {
		return err
	}
	if op.State != domain.OpRunning {
		return nil
	}
	if op.Type == domain.OpDisconnect {
		return s.runDeleteData(ctx, c, op)
	}
	if t.integration.Paused {
		return s.cancelPaused(ctx, c, op.ID)
	}
	conn, kind, err := s.connect(ctx, t)
	if err != nil {
		return s.fail(ctx, c, op.ID, domain.ReasonVendorRefused, err.Error())
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		q := connector.ListQuery{Cursor: op.Cursor}
		if op.Mode == domain.ModeIncremental {
			q.ChangedSince = op.Since
		}
		page, err := conn.ListOrganizations(ctx, q)
		if err != nil {
			return s.vendorFailed(ctx, c, op.ID, t.integration, err)
		}
		done, err := s.recordPage(ctx, c, op.ID, kind, t.integration.Sync.Scope, page)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		// Re-read: the checkpoint and counters are the committed ones, and a cancel lands here.
		err = s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
			var err error
			op, err = tx.Operation(ctx, c.OperationID, false)
			return err
		})
		if err != nil {
			return err
		}
	}
}

// recordPage reconciles one page with the cache and moves the checkpoint past it, in one
// transaction: after a crash the page is read again and changes nothing twice. On the last page
// of a full refresh it orphans what the listing no longer holds and ends the operation.
func (s *Service) recordPage(ctx context.Context, c store.Claim, opID string, kind connector.Kind, scope domain.SyncScope, page connector.Page) (done bool, err error) {
	now := s.clock()
	err = s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		done = false
		if err := tx.RenewLease(ctx, opID, s.owner, s.cfg.Lease); err != nil {
			return err
		}
		op, err := tx.Operation(ctx, opID, true)
		if err != nil {
			return err
		}
		if op.State != domain.OpRunning {
			done = true
			return nil
		}
		if op.CancelRequested {
			done = true
			op.State, op.Updated, op.Ended = domain.OpCancelled, now, now
			if err := tx.SaveOperation(ctx, op); err != nil {
				return err
			}
			return tx.Enqueue(ctx, finishEvent(op), now)
		}
		ids := make([]string, len(page.Companies))
		for i, co := range page.Companies {
			ids[i] = co.ExternalID
		}
		cached, err := tx.ExternalsForUpdate(ctx, op.IntegrationID, ids)
		if err != nil {
			return err
		}
		var write []domain.ExternalOrganization
		var changes []domain.Change
		var evs []proto.Message
		seen := map[string]bool{}
		for _, co := range page.Companies {
			if seen[co.ExternalID] { // a tool that lists one company twice (paging under writes)
				continue
			}
			seen[co.ExternalID] = true
			var prev *domain.ExternalOrganization
			if e, ok := cached[co.ExternalID]; ok {
				prev = &e
			}
			next, change := domain.Reconcile(prev, co, scope.InScope(co), now, refreshActor)
			next.AccountID, next.IntegrationID, next.IntegrationKind = c.AccountID, op.IntegrationID, kind.Name
			op.Result.Add(change)
			write = append(write, next)
			changes = append(changes, change)
			if ev := externalEvent(c.AccountID, next, change); ev != nil {
				evs = append(evs, ev)
			}
		}
		if err := tx.UpsertExternals(ctx, c.AccountID, op.IntegrationID, write); err != nil {
			return err
		}
		if err := s.externalsChanged(ctx, tx, c.AccountID, op.IntegrationID, changedOnly(write, changes), ids); err != nil {
			return err
		}
		if op.Mode == domain.ModeFull {
			if err := tx.MarkSeen(ctx, op.IntegrationID, op.ID, ids, now); err != nil {
				return err
			}
		}
		op.Cursor = page.Next
		op.Progress.PagesDone++
		op.Progress.ItemsDone += len(page.Companies)
		if page.TotalPages > 0 {
			op.Progress.PagesTotal = page.TotalPages
		}
		if page.Total >= 0 {
			op.Progress.ItemsTotal = page.Total
		}
		op.Attempts, op.Updated = 0, now
		if page.Next == "" {
			done = true
			if op.Mode == domain.ModeFull {
				gone, err := tx.OrphanUnseen(ctx, op.IntegrationID, op.ID, domain.ReasonGone, refreshActor, op.Created, now)
				if err != nil {
					return err
				}
				goneIDs := make([]string, len(gone))
				for i, e := range gone {
					op.Result.Orphaned++
					evs = append(evs, externalEvent(c.AccountID, e, domain.Orphaned))
					goneIDs[i] = e.ExternalID
				}
				if err := tx.PublishSyncing(ctx, c.AccountID, op.IntegrationID, goneIDs, now); err != nil {
					return err
				}
			}
			op.State, op.Ended = domain.OpSucceeded, now
			op.Progress.PagesTotal = op.Progress.PagesDone
			op.Progress.ItemsTotal = max(op.Progress.ItemsTotal, op.Progress.ItemsDone)
			if err := tx.RecordRefresh(ctx, op.IntegrationID, op.Mode == domain.ModeFull, op.Created, now); err != nil {
				return err
			}
			// The tool answered every call: the credentials work, as of the same commit that
			// says the refresh succeeded.
			integ, err := tx.Integration(ctx, op.IntegrationID, true)
			if err != nil {
				return err
			}
			if integ.State != domain.StateConnected {
				if err := tx.SetIntegrationState(ctx, integ.ID, domain.StateConnected, "", now); err != nil {
					return err
				}
				evs = append(evs, &integrationsyncv1.IntegrationStateChanged{AccountId: c.AccountID, IntegrationId: integ.ID,
					Kind: integ.Kind, PreviousState: integrationsyncv1.IntegrationState(integ.State),
					State: integrationsyncv1.IntegrationState_INTEGRATION_STATE_CONNECTED})
			}
			evs = append(evs, finishEvent(op))
		}
		if err := tx.SaveOperation(ctx, op); err != nil {
			return err
		}
		return tx.EnqueueBatch(ctx, evs, now)
	})
	if err == nil {
		s.wakeSync() // for the sync tasks the page gave, now committed
	}
	return done, err
}

// externalEvent is the event of a reconciled change, nil for none.
func externalEvent(accountID string, e domain.ExternalOrganization, c domain.Change) proto.Message {
	p := pbconv.External(e)
	switch c {
	case domain.Created:
		return &integrationsyncv1.ExternalOrganizationCreated{AccountId: accountID, ExternalOrganization: p}
	case domain.Changed:
		return &integrationsyncv1.ExternalOrganizationChanged{AccountId: accountID, ExternalOrganization: p}
	case domain.Orphaned:
		return &integrationsyncv1.ExternalOrganizationOrphaned{AccountId: accountID, ExternalOrganization: p}
	}
	return nil
}

// vendorFailed decides what a failed vendor call means for the refresh: refused credentials
// end it and mark the integration; an unavailable tool postpones it with backoff until it has
// failed MaxAttempts times; any other refusal ends it.
func (s *Service) vendorFailed(ctx context.Context, c store.Claim, opID string, integ domain.Integration, callErr error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case errors.Is(callErr, connector.ErrUnauthorized), errors.Is(callErr, transport.ErrStopped):
		msg := vendorMessage(callErr)
		if e := s.recordState(ctx, integ, domain.StateCredentialsRejected, msg); e != nil {
			return e
		}
		return s.fail(ctx, c, opID, domain.ReasonCredentialsRejected, msg)
	case errors.Is(callErr, connector.ErrRejected), errors.Is(callErr, connector.ErrNotFound), errors.Is(callErr, connector.ErrUnsupported):
		return s.fail(ctx, c, opID, domain.ReasonVendorRefused, vendorMessage(callErr))
	}
	// Unavailable (5xx after the transport's retries, 429s beyond its patience, the network).
	var attempts int
	e := s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		op, err := tx.Operation(ctx, opID, true)
		if err != nil {
			return err
		}
		op.Attempts++
		op.Updated = s.clock()
		op.ErrorMessage = vendorMessage(callErr)
		attempts = op.Attempts
		if err := tx.SaveOperation(ctx, op); err != nil {
			return err
		}
		return nil
	})
	if e != nil {
		return e
	}
	if attempts >= domain.MaxAttempts {
		return s.fail(ctx, c, opID, domain.ReasonVendorUnavailable, vendorMessage(callErr))
	}
	s.log.Info("tool unavailable; refresh postponed", "operation", opID, "attempts", attempts, "error", vendorMessage(callErr))
	return s.store.InSystem(ctx, func(tx *store.Tx) error {
		return tx.Postpone(ctx, opID, s.owner, domain.RetryDelay(attempts))
	})
}

// fail ends an operation FAILED.
func (s *Service) fail(ctx context.Context, c store.Claim, opID, reason, msg string) error {
	now := s.clock()
	return s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		op, err := tx.Operation(ctx, opID, true)
		if err != nil {
			return err
		}
		if op.State != domain.OpRunning {
			return nil
		}
		op.State, op.ErrorReason, op.ErrorMessage, op.Updated, op.Ended = domain.OpFailed, reason, msg, now, now
		if err := tx.SaveOperation(ctx, op); err != nil {
			return err
		}
		return tx.Enqueue(ctx, finishEvent(op), now)
	})
}

// RunScheduler starts the scheduled refreshes of every account's integrations: a full one every
// FullInterval, incremental ones every IncrementalInterval in between. Replicas share the work
// by row locks on the directory (SKIP LOCKED) and the one-running-refresh index.
func (s *Service) RunScheduler(ctx context.Context) error {
	tick := min(s.cfg.IncrementalInterval/4, 30*time.Second)
	for {
		if err := s.scheduleDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("schedule refreshes", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tick):
		}
	}
}

func (s *Service) scheduleDue(ctx context.Context) error {
	return s.store.InSystem(ctx, func(tx *store.Tx) error {
		due, err := tx.DueIntegrations(ctx, 100)
		if err != nil {
			return err
		}
		now := s.clock()
		for _, d := range due {
			mode := domain.ModeIncremental
			if d.Full {
				mode = domain.ModeFull
			}
			// The operation is written in the tenant's own transaction; the directory row stays
			// locked by this one until both are done, so no other replica schedules it twice.
			if _, _, err := s.startRefresh(ctx, d.AccountID, d.IntegrationID, mode, schedulerActor, false); err != nil &&
				!errors.Is(err, domain.ErrIntegrationNotFound) {
				return fmt.Errorf("schedule refresh of %s: %w", d.IntegrationID, err)
			}
			if err := tx.Reschedule(ctx, d.IntegrationID, d.Full, now.Add(s.cfg.FullInterval), now.Add(s.cfg.IncrementalInterval)); err != nil {
				return err
			}
		}
		return nil
	})
}
