package app

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/pbconv"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// schedulerActor is who starts scheduled refreshes.
const schedulerActor = "scheduler"

// RefreshIntegration starts a refresh, or returns the one already running.
func (s *Service) RefreshIntegration(ctx context.Context, accountID, integrationID string, mode domain.RefreshMode) (domain.Operation, error) {
	id, err := s.writer(ctx, accountID)
	if err != nil {
		return domain.Operation{}, err
	}
	op, _, err := s.startRefresh(ctx, accountID, integrationID, mode, id.Actor(), true)
	return op, err
}

// startRefresh inserts a running operation unless one runs; refuseRejected refuses an
// integration whose credentials were rejected (a person asked; the scheduler skips quietly).
func (s *Service) startRefresh(ctx context.Context, accountID, integrationID string, mode domain.RefreshMode, by string, refuseRejected bool) (domain.Operation, bool, error) {
	var op domain.Operation
	started := false
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		started = false
		integ, err := tx.Integration(ctx, integrationID, true)
		if err != nil {
			return err
		}
		if running, ok, err := tx.RunningOperation(ctx, integrationID); err != nil || ok {
			op = running
			return err
		}
		if integ.State == domain.StateCredentialsRejected {
			if refuseRejected {
				return domain.ErrCredentialsRejected
			}
			return nil
		}
		k, err := s.kind(integ.Kind)
		if err != nil {
			return err
		}
		m, since := domain.ChooseMode(mode, k.Incremental, integ.LastFullRefresh, integ.LastRefreshStarted)
		now := s.clock()
		op = domain.Operation{ID: uuid.NewString(), AccountID: accountID, IntegrationID: integrationID, Mode: m,
			State: domain.OpRunning, Since: since, CreatedBy: by, Created: now, Updated: now}
		if err := tx.InsertOperation(ctx, op); err != nil {
			return err
		}
		started = true
		return nil
	})
	if errors.Is(err, store.ErrRefreshRunning) {
		// Another request started one between our read and insert: return it.
		err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
			var e error
			op, _, e = tx.RunningOperation(ctx, integrationID)
			return e
		})
	}
	if started {
		s.wakeWorkers()
	}
	return op, started, err
}

// GetOperation returns an operation.
func (s *Service) GetOperation(ctx context.Context, accountID, operationID string) (domain.Operation, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return domain.Operation{}, err
	}
	var op domain.Operation
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		op, err = tx.Operation(ctx, operationID, false)
		return err
	})
	return op, err
}

type operationPosition struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// ListOperations lists the account's operations, newest first.
func (s *Service) ListOperations(ctx context.Context, accountID, integrationID string, size int32, token string) ([]domain.Operation, string, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", err
	}
	page, err := pagetoken.Open[operationPosition](ctx, s.pages, "operations", min(size, 500), token, accountID, integrationID)
	if err != nil {
		return nil, "", err
	}
	f := store.OperationFilter{IntegrationID: integrationID, Limit: page.Size + 1}
	if page.Continues {
		f.AfterAt, f.AfterID = page.After.At, page.After.ID
	}
	var ops []domain.Operation
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		ops, err = tx.Operations(ctx, f)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, ops, func(o domain.Operation) operationPosition { return operationPosition{At: o.Created, ID: o.ID} })
}

// CancelOperation asks a running operation to stop; the worker stops it at its next checkpoint
// (at once when no worker holds it).
func (s *Service) CancelOperation(ctx context.Context, accountID, operationID string) (domain.Operation, error) {
	if _, err := s.writer(ctx, accountID); err != nil {
		return domain.Operation{}, err
	}
	var op domain.Operation
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		if op, err = tx.Operation(ctx, operationID, true); err != nil {
			return err
		}
		if op.State != domain.OpRunning {
			return domain.ErrOperationEnded
		}
		op.CancelRequested, op.Updated = true, s.clock()
		return tx.SaveOperation(ctx, op)
	})
	if err == nil {
		s.wakeWorkers()
	}
	return op, err
}

// finishEvent is the RefreshFinished event of an ended operation.
func finishEvent(op domain.Operation) *integrationsyncv1.RefreshFinished {
	return &integrationsyncv1.RefreshFinished{AccountId: op.AccountID, Operation: pbconv.Operation(op)}
}
