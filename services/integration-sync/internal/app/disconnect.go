package app

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// DisconnectMode says how an integration is disconnected (values as in the API).
type DisconnectMode int16

// Disconnect modes.
const (
	// DisconnectPause stops refreshing and syncing and keeps everything; ResumeIntegration
	// undoes it.
	DisconnectPause DisconnectMode = 1
	// DisconnectKeepData removes the integration, its cache and its links; the Orgplane
	// organizations stay.
	DisconnectKeepData DisconnectMode = 2
	// DisconnectDeleteData also deletes the organizations the integration's sync created.
	DisconnectDeleteData DisconnectMode = 3
)

// deleteBatch is how many companies a disconnect that deletes the data reads at a time.
const deleteBatch = 100

// DisconnectIntegration pauses or disconnects an integration and returns the operation doing it.
//
// A pause is done at once and its operation is stored, done. Disconnecting with the data kept
// is done at once too, but its operation cannot be stored: operations go with their integration
// (the foreign key cascades), so the one returned is the answer itself and GetOperation does not
// know it. Disconnecting with the data deleted is a leased operation that pauses the integration
// first, deletes the organizations the sync created one by one (resuming after a crash from its
// checkpoint), then removes the integration, and its operation with it; if the org service
// refused some of them it fails instead, naming them, and the integration stays paused.
func (s *Service) DisconnectIntegration(ctx context.Context, accountID, integrationID string, mode DisconnectMode) (domain.Operation, error) {
	id, err := s.writer(ctx, accountID)
	if err != nil {
		return domain.Operation{}, err
	}
	now := s.clock()
	op := domain.Operation{ID: uuid.NewString(), AccountID: accountID, IntegrationID: integrationID, Type: domain.OpDisconnect,
		CreatedBy: id.Actor(), Created: now, Updated: now}
	switch mode {
	case DisconnectPause:
		op.State, op.Ended = domain.OpSucceeded, now
		err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
			if err := s.pause(ctx, tx, accountID, integrationID, now); err != nil {
				return err
			}
			return tx.InsertOperation(ctx, op)
		})
	case DisconnectKeepData:
		op.State, op.Ended = domain.OpSucceeded, now
		err = s.removeIntegration(ctx, accountID, integrationID, id.Actor())
	case DisconnectDeleteData:
		op.State = domain.OpRunning
		started := op
		err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
			op = started
			if err := s.pause(ctx, tx, accountID, integrationID, now); err != nil {
				return err
			}
			if running, ok, err := tx.RunningOperation(ctx, integrationID); err != nil || ok {
				op = running // asked again: the one already deleting
				return err
			}
			n, err := tx.CountSyncCreated(ctx, integrationID)
			if err != nil {
				return err
			}
			op.Progress.ItemsTotal = n
			return tx.InsertOperation(ctx, op)
		})
		if err == nil {
			s.wakeWorkers()
		}
	default:
		return domain.Operation{}, apperr.Invalid("mode", "must be DISCONNECT_MODE_PAUSE, DISCONNECT_MODE_KEEP_DATA or DISCONNECT_MODE_DELETE_DATA")
	}
	if err != nil {
		return domain.Operation{}, err
	}
	return op, nil
}

// pause stops an integration's refreshes and sync in tx: its running refresh ends cancelled,
// the scheduler skips it, and org hears that none of its pairs syncs any more (so their
// organizations may be deleted). Pausing a paused integration changes nothing.
func (s *Service) pause(ctx context.Context, tx *store.Tx, accountID, integrationID string, now time.Time) error {
	if err := tx.LockSchedule(ctx, integrationID); err != nil {
		return err
	}
	integ, err := tx.Integration(ctx, integrationID, true)
	if err != nil {
		return err
	}
	running, ok, err := tx.RunningOperation(ctx, integrationID)
	if err != nil {
		return err
	}
	if ok && running.Type != domain.OpDisconnect {
		// Its worker sees the state at its next checkpoint, under the operation's row lock,
		// and stops without writing the page.
		if err := endCancelled(ctx, tx, running, now); err != nil {
			return err
		}
	}
	if integ.Paused {
		return nil
	}
	if err := tx.SetDisconnectPaused(ctx, integrationID, true, now); err != nil {
		return err
	}
	return tx.PublishSyncing(ctx, accountID, integrationID, nil, now)
}

// endCancelled ends a running refresh cancelled, as a cancel at a checkpoint does.
func endCancelled(ctx context.Context, tx *store.Tx, op domain.Operation, now time.Time) error {
	op.State, op.Updated, op.Ended = domain.OpCancelled, now, now
	if err := tx.SaveOperation(ctx, op); err != nil {
		return err
	}
	return tx.Enqueue(ctx, finishEvent(op), now)
}

// ResumeIntegration undoes a pause: refreshes are scheduled again (unless the tool refused the
// credentials, which stops them until they are replaced) and the pairs sync again. Resuming an
// integration that is not paused changes nothing.
func (s *Service) ResumeIntegration(ctx context.Context, accountID, integrationID string) (IntegrationView, error) {
	if _, err := s.writer(ctx, accountID); err != nil {
		return IntegrationView{}, err
	}
	now := s.clock()
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.LockSchedule(ctx, integrationID); err != nil {
			return err
		}
		integ, err := tx.Integration(ctx, integrationID, true)
		if err != nil {
			return err
		}
		if running, ok, err := tx.RunningOperation(ctx, integrationID); err != nil {
			return err
		} else if ok && running.Type == domain.OpDisconnect {
			return domain.ErrDeletingData
		}
		if !integ.Paused {
			return nil
		}
		if err := tx.SetDisconnectPaused(ctx, integrationID, false, now); err != nil {
			return err
		}
		if err := tx.PublishSyncing(ctx, accountID, integrationID, nil, now); err != nil {
			return err
		}
		integ.Paused = false
		if !syncs(integ) {
			return nil
		}
		// The sync dropped what happened while paused: every linked pair is reconciled against
		// its base, which catches up the changes of both sides.
		cached, err := tx.AllExternals(ctx, integrationID)
		if err != nil {
			return err
		}
		for _, e := range cached {
			if e.OrganizationID != "" && e.State == domain.ExternalSyncing {
				if err := tx.TouchOrganizationTask(ctx, accountID, integrationID, e.OrganizationID, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return IntegrationView{}, err
	}
	s.wakeSync()
	return s.view(ctx, accountID, integrationID)
}

// removeIntegration deletes an integration with its cache, links and operations, as
// DeleteIntegration does: mapping drops its links and org its deletion guard on
// integration.deleted.
func (s *Service) removeIntegration(ctx context.Context, accountID, integrationID, by string) error {
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		return deleteIntegration(ctx, tx, accountID, integrationID, by, s.clock())
	})
	if err != nil {
		return err
	}
	return s.budgets.Delete(ctx, integrationID)
}

func deleteIntegration(ctx context.Context, tx *store.Tx, accountID, integrationID, by string, now time.Time) error {
	if err := tx.LockSchedule(ctx, integrationID); err != nil {
		return err
	}
	integ, err := tx.Integration(ctx, integrationID, true)
	if err != nil {
		return err
	}
	if err := tx.DeleteIntegration(ctx, integrationID); err != nil {
		return err
	}
	return tx.Enqueue(ctx, &integrationsyncv1.IntegrationDeleted{AccountId: accountID, IntegrationId: integrationID,
		Kind: integ.Kind, DeletedBy: by}, now)
}

// runDeleteData runs a leased disconnect that deletes the data: each organization the sync
// created is deleted by org (as the sync, outside any transaction; one already gone is fine),
// then its company forgotten and the checkpoint moved past it in one transaction, so after a
// crash the worker that resumes asks org again for at most that one.
func (s *Service) runDeleteData(ctx context.Context, c store.Claim, op domain.Operation) error {
	for {
		var batch []domain.ExternalOrganization
		err := s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
			var err error
			batch, err = tx.SyncCreated(ctx, op.IntegrationID, op.Cursor, deleteBatch)
			return err
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return s.finishDeleteData(ctx, c, op.ID)
		}
		for _, e := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			_, err := s.orgs.DeleteSynced(ctx, c.AccountID, op.IntegrationID, e.OrganizationID)
			refusedBy := ""
			switch k := apperr.KindOf(err); {
			case err == nil, k == apperr.KindNotFound:
			case k == apperr.KindUnavailable, k == apperr.KindInternal:
				return s.orgUnavailable(ctx, c, op.ID, err)
			default:
				refusedBy = err.Error()
				if ae, ok := apperr.As(err); ok {
					refusedBy = ae.Message
				}
			}
			var stop bool
			if op, stop, err = s.recordDeletion(ctx, c, op.ID, e, refusedBy); err != nil || stop {
				return err
			}
		}
	}
}

// recordDeletion forgets a company whose organization org deleted (or records org's refusal)
// and moves the checkpoint past it; stop when the operation ended or was cancelled meanwhile.
func (s *Service) recordDeletion(ctx context.Context, c store.Claim, opID string, e domain.ExternalOrganization, refusedBy string) (op domain.Operation, stop bool, err error) {
	now := s.clock()
	err = s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		stop = false
		if err := tx.RenewLease(ctx, opID, s.owner, s.cfg.Lease); err != nil {
			return err
		}
		if op, err = tx.Operation(ctx, opID, true); err != nil {
			return err
		}
		if op.State != domain.OpRunning || op.CancelRequested {
			stop = true
			if op.State == domain.OpRunning {
				op.State, op.Updated, op.Ended = domain.OpCancelled, now, now
				return tx.SaveOperation(ctx, op)
			}
			return nil
		}
		if refusedBy != "" {
			op.ErrorMessage = fmt.Sprintf("organization %s: %s", e.OrganizationID, refusedBy)
		} else if err := s.forgetDeleted(ctx, tx, op, e, now); err != nil {
			return err
		}
		op.Cursor, op.Attempts, op.Updated = e.ExternalID, 0, now
		op.Progress.ItemsDone++
		return tx.SaveOperation(ctx, op)
	})
	return op, stop, err
}

func (s *Service) forgetDeleted(ctx context.Context, tx *store.Tx, op domain.Operation, e domain.ExternalOrganization, now time.Time) error {
	cached, err := tx.ExternalsForUpdate(ctx, op.IntegrationID, []string{e.ExternalID})
	if err != nil {
		return err
	}
	cur, ok := cached[e.ExternalID]
	if !ok || (cur.OrganizationID != e.OrganizationID && cur.OrganizationID != "") {
		return nil // linked to another organization meanwhile: a person's mapping, kept
	}
	cur.OrganizationID = e.OrganizationID
	if err := forget(ctx, tx, cur, op.CreatedBy, now); err != nil {
		return err
	}
	return tx.AppendSyncLog(ctx, domain.SyncLogEntry{AccountID: op.AccountID, IntegrationID: op.IntegrationID, At: now,
		Side: domain.FromPSA, Action: LogDeletedOnDisconnect, OrganizationID: e.OrganizationID, ExternalID: e.ExternalID,
		Message: "organization the sync created deleted by a disconnect asked by " + op.CreatedBy})
}

// orgUnavailable postpones the operation with backoff, as a refresh waits for its tool, until
// org has failed MaxAttempts times in a row.
func (s *Service) orgUnavailable(ctx context.Context, c store.Claim, opID string, callErr error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var attempts int
	now := s.clock()
	err := s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		op, err := tx.Operation(ctx, opID, true)
		if err != nil {
			return err
		}
		op.Attempts++
		op.Updated = now
		attempts = op.Attempts
		if attempts >= domain.MaxAttempts {
			op.State, op.Ended = domain.OpFailed, now
			op.ErrorReason, op.ErrorMessage = domain.ReasonOrgUnavailable, "the organization service did not answer: "+callErr.Error()
		}
		return tx.SaveOperation(ctx, op)
	})
	if err != nil || attempts >= domain.MaxAttempts {
		return err
	}
	s.log.Info("org unavailable; disconnect postponed", "operation", opID, "attempts", attempts, "error", callErr)
	return s.store.InSystem(ctx, func(tx *store.Tx) error {
		return tx.Postpone(ctx, opID, s.owner, domain.RetryDelay(attempts))
	})
}

// finishDeleteData ends a disconnect that went through every organization the sync created:
// with none left it removes the integration (and so the operation); with some org refused, it
// fails naming how many, and the integration stays paused for another try or a KEEP_DATA.
func (s *Service) finishDeleteData(ctx context.Context, c store.Claim, opID string) error {
	now := s.clock()
	removed := false
	var integrationID string
	err := s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		removed = false
		if err := tx.RenewLease(ctx, opID, s.owner, s.cfg.Lease); err != nil {
			return err
		}
		op, err := tx.Operation(ctx, opID, true)
		if err != nil || op.State != domain.OpRunning {
			return err
		}
		integrationID = op.IntegrationID
		if op.CancelRequested {
			op.State, op.Updated, op.Ended = domain.OpCancelled, now, now
			return tx.SaveOperation(ctx, op)
		}
		left, err := tx.CountSyncCreated(ctx, op.IntegrationID)
		if err != nil {
			return err
		}
		if left > 0 {
			op.State, op.Updated, op.Ended = domain.OpFailed, now, now
			op.ErrorReason = domain.ReasonOrganizationsNotDeleted
			op.ErrorMessage = fmt.Sprintf("%d organizations the sync created were not deleted; the last refusal: %s", left, op.ErrorMessage)
			return tx.SaveOperation(ctx, op)
		}
		removed = true
		return deleteIntegration(ctx, tx, c.AccountID, op.IntegrationID, op.CreatedBy, now)
	})
	if err != nil || !removed {
		return err
	}
	return s.budgets.Delete(context.WithoutCancel(ctx), integrationID)
}

// cancelPaused ends a refresh of a paused integration without calling the tool (one asked for
// while it was paused).
func (s *Service) cancelPaused(ctx context.Context, c store.Claim, opID string) error {
	now := s.clock()
	return s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		op, err := tx.Operation(ctx, opID, true)
		if err != nil || op.State != domain.OpRunning {
			return err
		}
		return endCancelled(ctx, tx, op, now)
	})
}
