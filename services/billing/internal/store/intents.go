package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

// intentsChannel is where a newly due intent wakes the intent worker (delivered at commit).
const intentsChannel = "billing_license_intents"

// IntentState is what a decision about the account's next intent needs: whether one is pending
// and the highest generation used so far.
func (t *Tx) IntentState(ctx context.Context) (pending bool, lastGeneration int64, err error) {
	err = t.tx.QueryRow(ctx, `SELECT coalesce(bool_or(status = 'pending'), false), coalesce(max(generation), 0)
		FROM license_intents`).Scan(&pending, &lastGeneration)
	if err != nil {
		return false, 0, fmt.Errorf("read license intents: %w", err)
	}
	return pending, lastGeneration, nil
}

// InsertIntent writes a pending intent and puts it on the worker's list, leased for lease: the
// caller applies it itself and the worker leaves it alone until then. A zero lease hands it to
// the worker at once, and wakes the worker when the transaction commits.
func (t *Tx) InsertIntent(ctx context.Context, i domain.LicenseIntent, lease time.Duration) error {
	d := i.Desired
	if _, err := t.tx.Exec(ctx, `INSERT INTO license_intents (account_id, generation, kind, status, plan_name, unlimited,
			organization_limit, state, current_period_start, current_period_end, delta, changed_by)
		VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11)`,
		i.AccountID, i.Generation, string(i.Kind), d.PlanName, d.Unlimited, d.Limit, int16(d.State), d.PeriodStart, d.PeriodEnd,
		i.Delta, i.ChangedBy); err != nil {
		return fmt.Errorf("insert license intent: %w", err)
	}
	attempts := 1 // the caller's own attempt
	if lease == 0 {
		attempts = 0
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO license_intent_queue (account_id, generation, attempt_after, attempts)
		VALUES ($1, $2, now() + $3 * interval '1 millisecond', $4)`, i.AccountID, i.Generation, millis(lease), attempts); err != nil {
		return fmt.Errorf("queue license intent: %w", err)
	}
	if lease == 0 {
		if _, err := t.tx.Exec(ctx, `SELECT pg_notify($1, '')`, intentsChannel); err != nil {
			return fmt.Errorf("wake the intent worker: %w", err)
		}
	}
	return nil
}

// ErrIntentNotFound is returned for an intent the account does not have.
var ErrIntentNotFound = errors.New("license intent not found")

// IntentForUpdate reads one of the account's intents and locks it, so that only one of the
// request that wrote it and the worker records its outcome.
func (t *Tx) IntentForUpdate(ctx context.Context, generation int64) (domain.LicenseIntent, error) {
	var i domain.LicenseIntent
	var kind, status string
	d := &i.Desired
	err := t.tx.QueryRow(ctx, `SELECT account_id::text, generation, kind, status, plan_name, unlimited, organization_limit, state,
			current_period_start, current_period_end, delta, changed_by
		FROM license_intents WHERE generation = $1 FOR UPDATE`, generation).
		Scan(&i.AccountID, &i.Generation, &kind, &status, &d.PlanName, &d.Unlimited, &d.Limit, &d.State,
			&d.PeriodStart, &d.PeriodEnd, &i.Delta, &i.ChangedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.LicenseIntent{}, ErrIntentNotFound
	}
	if err != nil {
		return domain.LicenseIntent{}, fmt.Errorf("read license intent: %w", err)
	}
	i.Kind, i.Status, d.AccountID = domain.IntentKind(kind), domain.IntentStatus(status), i.AccountID
	return i, nil
}

// ResolveIntent records the org service's answer to a pending intent (applied or rejected, with
// org's refusal) and takes it off the worker's list.
func (t *Tx) ResolveIntent(ctx context.Context, accountID string, generation int64, status domain.IntentStatus, refusal string) error {
	var r *string
	if refusal != "" {
		r = &refusal
	}
	if _, err := t.tx.Exec(ctx, `UPDATE license_intents SET status = $2, refusal = $3, resolved_at = now()
		WHERE generation = $1 AND status = 'pending'`, generation, string(status), r); err != nil {
		return fmt.Errorf("resolve license intent: %w", err)
	}
	return t.DequeueIntent(ctx, accountID, generation)
}

// DequeueIntent takes an intent off the worker's list.
func (t *Tx) DequeueIntent(ctx context.Context, accountID string, generation int64) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM license_intent_queue WHERE account_id = $1 AND generation = $2`,
		accountID, generation); err != nil {
		return fmt.Errorf("dequeue license intent: %w", err)
	}
	return nil
}

// PostponeIntent leaves a pending intent for the worker to try again after delay, noting why the
// last attempt failed.
func (s *Store) PostponeIntent(ctx context.Context, accountID string, generation int64, delay time.Duration, lastErr string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE license_intent_queue SET attempt_after = now() + $3 * interval '1 millisecond', last_error = $4
		WHERE account_id = $1 AND generation = $2`, accountID, generation, millis(delay), lastErr); err != nil {
		return fmt.Errorf("postpone license intent: %w", err)
	}
	return nil
}

// IntentClaim is a pending intent the worker has leased.
type IntentClaim struct {
	AccountID  string
	Generation int64
	// Attempts counts the attempts at the intent, this one included.
	Attempts int
}

// ClaimDueIntents leases up to limit intents whose time has come, oldest due first, for lease.
// It commits at once: the lease, not an open transaction, keeps other workers (other replicas)
// off them while the org service is called, and an intent whose worker died is due again when
// the lease runs out.
func (s *Store) ClaimDueIntents(ctx context.Context, limit int, lease time.Duration) ([]IntentClaim, error) {
	rows, err := s.pool.Query(ctx, `UPDATE license_intent_queue q
		SET attempt_after = now() + $2 * interval '1 millisecond', attempts = q.attempts + 1
		FROM (SELECT account_id FROM license_intent_queue WHERE attempt_after <= now()
		      ORDER BY attempt_after LIMIT $1 FOR UPDATE SKIP LOCKED) due
		WHERE q.account_id = due.account_id
		RETURNING q.account_id::text, q.generation, q.attempts`, limit, millis(lease))
	if err != nil {
		return nil, fmt.Errorf("claim license intents: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (IntentClaim, error) {
		var c IntentClaim
		err := r.Scan(&c.AccountID, &c.Generation, &c.Attempts)
		return c, err
	})
}

// IntentWakeups is a connection listening for intents handed to the worker.
type IntentWakeups struct{ conn *pgxpool.Conn }

// ListenForIntents starts listening; Close gives the connection back.
func (s *Store) ListenForIntents(ctx context.Context) (*IntentWakeups, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{intentsChannel}.Sanitize()); err != nil {
		c.Release()
		return nil, err
	}
	return &IntentWakeups{conn: c}, nil
}

// Wait returns when an intent was handed to the worker or after timeout, whichever comes
// first. An error means the connection broke: Close it and listen again.
func (w *IntentWakeups) Wait(ctx context.Context, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := w.conn.Conn().WaitForNotification(wctx)
	if err != nil && (errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil) && !w.conn.Conn().IsClosed() {
		return nil
	}
	return err
}

// Close stops listening.
func (w *IntentWakeups) Close() {
	// A connection that stopped mid-wait may be in any state: drop it rather than reuse it.
	_ = w.conn.Conn().Close(context.Background())
	w.conn.Release()
}
