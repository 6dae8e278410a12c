package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

const operationColumns = `id::text, account_id::text, integration_id::text, mode, state, cursor, coalesce(since, 'epoch'),
	pages_done, pages_total, items_done, items_total, created_count, changed_count, orphaned_count, unchanged_count,
	error_reason, error_message, created_by, cancel_requested, attempts, created_at, updated_at, coalesce(ended_at, 'epoch'), type`

func scanOperation(r pgx.Row) (domain.Operation, error) {
	var o domain.Operation
	err := r.Scan(&o.ID, &o.AccountID, &o.IntegrationID, &o.Mode, &o.State, &o.Cursor, &o.Since,
		&o.Progress.PagesDone, &o.Progress.PagesTotal, &o.Progress.ItemsDone, &o.Progress.ItemsTotal,
		&o.Result.Created, &o.Result.Changed, &o.Result.Orphaned, &o.Result.Unchanged,
		&o.ErrorReason, &o.ErrorMessage, &o.CreatedBy, &o.CancelRequested, &o.Attempts, &o.Created, &o.Updated, &o.Ended, &o.Type)
	for _, t := range []*time.Time{&o.Since, &o.Ended} {
		if t.Unix() == 0 {
			*t = time.Time{}
		}
	}
	return o, err
}

// ErrRefreshRunning is returned by InsertOperation when the integration has a running one.
var ErrRefreshRunning = errors.New("a refresh is already running")

// InsertOperation stores a new operation (of type refresh unless it says otherwise); a running
// one is queued for a worker, due at once, and one that is done at once (a pause) is not.
func (t *Tx) InsertOperation(ctx context.Context, o domain.Operation) error {
	var since, ended *time.Time
	if !o.Since.IsZero() {
		since = &o.Since
	}
	if !o.Ended.IsZero() {
		ended = &o.Ended
	}
	if o.State == 0 {
		o.State = domain.OpRunning
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO operations (id, account_id, integration_id, type, mode, state, since, items_total,
			created_by, created_at, updated_at, ended_at)
		VALUES ($1, $2, $3, coalesce(nullif($4, ''), 'refresh'), $5, $6, $7, $8, $9, $10, $10, $11)`,
		o.ID, o.AccountID, o.IntegrationID, o.Type, o.Mode, o.State, since, o.Progress.ItemsTotal, o.CreatedBy, o.Created, ended)
	if err != nil {
		if isUnique(err, "operations_one_running") {
			return ErrRefreshRunning
		}
		return fmt.Errorf("insert operation: %w", err)
	}
	if o.State != domain.OpRunning {
		return nil
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO operation_queue (operation_id, account_id, lease_until) VALUES ($1, $2, $3)`,
		o.ID, o.AccountID, o.Created); err != nil {
		return fmt.Errorf("queue operation: %w", err)
	}
	return nil
}

// Operation reads one of the tenant's operations; lock takes its row lock.
func (t *Tx) Operation(ctx context.Context, id string, lock bool) (domain.Operation, error) {
	q := `SELECT ` + operationColumns + ` FROM operations WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	o, err := scanOperation(t.tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Operation{}, domain.ErrOperationNotFound
	}
	if err != nil {
		return domain.Operation{}, fmt.Errorf("read operation: %w", err)
	}
	return o, nil
}

// RunningOperation returns the integration's running operation, if any.
func (t *Tx) RunningOperation(ctx context.Context, integrationID string) (domain.Operation, bool, error) {
	o, err := scanOperation(t.tx.QueryRow(ctx, `SELECT `+operationColumns+` FROM operations
		WHERE integration_id = $1 AND state = 1`, integrationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Operation{}, false, nil
	}
	if err != nil {
		return domain.Operation{}, false, fmt.Errorf("read running operation: %w", err)
	}
	return o, true, nil
}

// OperationFilter pages the operations list, newest first.
type OperationFilter struct {
	IntegrationID string
	AfterAt       time.Time
	AfterID       string
	Limit         int
}

// Operations lists the tenant's operations, newest first.
func (t *Tx) Operations(ctx context.Context, f OperationFilter) ([]domain.Operation, error) {
	q := `SELECT ` + operationColumns + ` FROM operations WHERE ($2 = '' OR integration_id::text = $2)`
	args := []any{f.Limit, f.IntegrationID}
	if !f.AfterAt.IsZero() {
		q += ` AND (created_at, id::text) < ($3, $4)`
		args = append(args, f.AfterAt, f.AfterID)
	}
	rows, err := t.tx.Query(ctx, q+` ORDER BY created_at DESC, id::text DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Operation, error) { return scanOperation(r) })
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	return out, nil
}

// SaveOperation writes an operation's progress, checkpoint, result and state.
func (t *Tx) SaveOperation(ctx context.Context, o domain.Operation) error {
	var ended *time.Time
	if !o.Ended.IsZero() {
		ended = &o.Ended
	}
	_, err := t.tx.Exec(ctx, `UPDATE operations SET state = $2, cursor = $3, pages_done = $4, pages_total = $5,
			items_done = $6, items_total = $7, created_count = $8, changed_count = $9, orphaned_count = $10,
			unchanged_count = $11, error_reason = $12, error_message = $13, cancel_requested = $14, attempts = $15,
			updated_at = $16, ended_at = $17
		WHERE id = $1`, o.ID, o.State, o.Cursor, o.Progress.PagesDone, o.Progress.PagesTotal, o.Progress.ItemsDone,
		o.Progress.ItemsTotal, o.Result.Created, o.Result.Changed, o.Result.Orphaned, o.Result.Unchanged,
		o.ErrorReason, o.ErrorMessage, o.CancelRequested, o.Attempts, o.Updated, ended)
	if err != nil {
		return fmt.Errorf("save operation: %w", err)
	}
	if o.State != domain.OpRunning {
		if _, err := t.tx.Exec(ctx, `DELETE FROM operation_queue WHERE operation_id = $1`, o.ID); err != nil {
			return fmt.Errorf("dequeue operation: %w", err)
		}
	}
	return nil
}

// Claim is a leased operation.
type Claim struct{ OperationID, AccountID string }

// ClaimOperation leases the most overdue queued operation to owner for lease (system scope);
// false when none is due.
func (t *Tx) ClaimOperation(ctx context.Context, owner string, lease time.Duration) (Claim, bool, error) {
	var c Claim
	err := t.tx.QueryRow(ctx, `UPDATE operation_queue SET lease_until = now() + $2 * interval '1 millisecond', lease_owner = $1
		WHERE operation_id = (SELECT operation_id FROM operation_queue WHERE lease_until <= now()
			ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING operation_id::text, account_id::text`, owner, lease.Milliseconds()).Scan(&c.OperationID, &c.AccountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, fmt.Errorf("claim operation: %w", err)
	}
	return c, true, nil
}

// ErrLeaseLost: another worker holds the operation now (this one stalled past its lease).
var ErrLeaseLost = errors.New("operation lease lost")

// RenewLease extends owner's lease on an operation; ErrLeaseLost when owner no longer holds it.
func (t *Tx) RenewLease(ctx context.Context, operationID, owner string, lease time.Duration) error {
	tag, err := t.tx.Exec(ctx, `UPDATE operation_queue SET lease_until = now() + $3 * interval '1 millisecond'
		WHERE operation_id = $1 AND lease_owner = $2`, operationID, owner, lease.Milliseconds())
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Postpone releases owner's lease and makes the operation due again after delay.
func (t *Tx) Postpone(ctx context.Context, operationID, owner string, delay time.Duration) error {
	if _, err := t.tx.Exec(ctx, `UPDATE operation_queue SET lease_until = now() + $3 * interval '1 millisecond', lease_owner = ''
		WHERE operation_id = $1 AND lease_owner = $2`, operationID, owner, delay.Milliseconds()); err != nil {
		return fmt.Errorf("postpone operation: %w", err)
	}
	return nil
}

// DueIntegration is an integration whose scheduled refresh is due.
type DueIntegration struct {
	IntegrationID, AccountID string
	Full                     bool
}

// DueIntegrations locks up to limit integrations whose scheduled refresh is due (system
// scope), skipping those another replica is scheduling.
func (t *Tx) DueIntegrations(ctx context.Context, limit int) ([]DueIntegration, error) {
	rows, err := t.tx.Query(ctx, `SELECT integration_id::text, account_id::text, next_full_at <= now()
		FROM integration_directory WHERE NOT paused AND least(next_full_at, next_incremental_at) <= now()
		ORDER BY least(next_full_at, next_incremental_at) LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("find due integrations: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[DueIntegration])
}

// Reschedule sets when an integration's next scheduled refreshes are due.
func (t *Tx) Reschedule(ctx context.Context, integrationID string, full bool, nextFull, nextIncremental time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE integration_directory SET next_incremental_at = $3,
			next_full_at = CASE WHEN $2 THEN $4 ELSE next_full_at END
		WHERE integration_id = $1`, integrationID, full, nextIncremental, nextFull)
	if err != nil {
		return fmt.Errorf("reschedule integration: %w", err)
	}
	return nil
}

// SetPaused stops or restarts an integration's scheduled refreshes for its credentials (rejected,
// or replaced). The directory's one flag also holds a disconnect's pause (integrations.paused,
// which this tenant transaction can read and the scheduler's cannot), so lifting a credential
// stop does not restart a paused integration.
func (t *Tx) SetPaused(ctx context.Context, integrationID string, paused bool) error {
	if _, err := t.tx.Exec(ctx, `UPDATE integration_directory SET
			paused = $2 OR coalesce((SELECT i.paused FROM integrations i WHERE i.id = $1), false)
		WHERE integration_id = $1`, integrationID, paused); err != nil {
		return fmt.Errorf("pause integration: %w", err)
	}
	return nil
}

// LockSchedule takes the lock of an integration's directory row. A transaction that changes both
// the integration and its schedule takes it first, in the scheduler's order (the directory row,
// then the integration's in startRefresh), so that neither waits on the other for ever: the
// scheduler holds its row lock while it waits for another transaction to start the refresh.
func (t *Tx) LockSchedule(ctx context.Context, integrationID string) error {
	if _, err := t.tx.Exec(ctx, `SELECT 1 FROM integration_directory WHERE integration_id = $1 FOR UPDATE`, integrationID); err != nil {
		return fmt.Errorf("lock integration schedule: %w", err)
	}
	return nil
}

// SetDisconnectPaused pauses an integration (nothing refreshes or syncs) or resumes it; resuming
// leaves its scheduled refreshes stopped while its credentials stand rejected.
func (t *Tx) SetDisconnectPaused(ctx context.Context, integrationID string, paused bool, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `WITH i AS (
			UPDATE integrations SET paused = $2, updated_at = $3 WHERE id = $1 RETURNING id, state)
		UPDATE integration_directory d SET paused = $2 OR i.state = $4 FROM i WHERE d.integration_id = i.id`,
		integrationID, paused, at, domain.StateCredentialsRejected); err != nil {
		return fmt.Errorf("pause integration: %w", err)
	}
	return nil
}

// AccountOf returns the account an integration belongs to (system scope: webhook deliveries
// name an integration only); ErrIntegrationNotFound when there is none.
func (t *Tx) AccountOf(ctx context.Context, integrationID string) (string, error) {
	var account string
	err := t.tx.QueryRow(ctx, `SELECT account_id::text FROM integration_directory WHERE integration_id = $1`, integrationID).Scan(&account)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", domain.ErrIntegrationNotFound
	}
	if err != nil {
		return "", fmt.Errorf("find integration: %w", err)
	}
	return account, nil
}

// Accounts lists every account with an integration (system scope), for the rotate command.
func (t *Tx) Accounts(ctx context.Context) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT DISTINCT account_id::text FROM integration_directory ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
