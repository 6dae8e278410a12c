package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReminderClaim is a review that fell quiet, held by the claiming transaction.
type ReminderClaim struct {
	ReviewID  string
	AccountID string
}

// ClaimDueReminder locks one review whose quiet period has ended (system scope); other
// transactions skip it until this one ends. False when none is due.
func (t *Tx) ClaimDueReminder(ctx context.Context) (ReminderClaim, bool, error) {
	var c ReminderClaim
	err := t.tx.QueryRow(ctx, `SELECT review_id::text, account_id::text FROM reminder_queue WHERE due_at <= now()
		ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&c.ReviewID, &c.AccountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("claim reminder: %w", err)
	}
	return c, true, nil
}

// Reminded records that a review's reminder for the edit at editedAt is written, and takes it off
// the schedule (the next edit puts it back).
func (t *Tx) Reminded(ctx context.Context, reviewID string, editedAt time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE reviews SET reminded_for = $2 WHERE id = $1`, reviewID, editedAt); err != nil {
		return fmt.Errorf("record reminder: %w", err)
	}
	return t.DropReminder(ctx, reviewID)
}

// DropReminder takes a review off the reminder schedule.
func (t *Tx) DropReminder(ctx context.Context, reviewID string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM reminder_queue WHERE review_id = $1`, reviewID); err != nil {
		return fmt.Errorf("drop reminder: %w", err)
	}
	return nil
}

// Trouble is one integration problem waiting for the account's next digest.
type Trouble struct {
	ID            int64
	EventID       string
	IntegrationID string
	What          string
	Detail        string
	At            time.Time
}

// AddTrouble records a problem and makes sure a digest is due: delay after it, but no sooner than
// interval after the account's last digest. False when the event was recorded already.
func (t *Tx) AddTrouble(ctx context.Context, accountID string, tr Trouble, delay, interval time.Duration) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO trouble (account_id, event_id, integration_id, what, detail, at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING`,
		accountID, tr.EventID, nullUUID(tr.IntegrationID), tr.What, tr.Detail, tr.At)
	if err != nil {
		return false, fmt.Errorf("record integration trouble: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	// A digest already due keeps its time: the first problem of a quiet spell sets it.
	if _, err := t.tx.Exec(ctx, `INSERT INTO digest_queue (account_id, due_at) VALUES ($1, now() + $2 * interval '1 millisecond')
		ON CONFLICT (account_id) DO UPDATE SET due_at = coalesce(digest_queue.due_at,
			greatest(now() + $2 * interval '1 millisecond', digest_queue.last_sent_at + $3 * interval '1 millisecond'))`,
		accountID, delay.Milliseconds(), interval.Milliseconds()); err != nil {
		return false, fmt.Errorf("schedule trouble digest: %w", err)
	}
	return true, nil
}

// ClaimDueDigest locks one account whose trouble digest is due (system scope); false when none is.
func (t *Tx) ClaimDueDigest(ctx context.Context) (string, bool, error) {
	var account string
	err := t.tx.QueryRow(ctx, `SELECT account_id::text FROM digest_queue WHERE due_at <= now()
		ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&account)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("claim trouble digest: %w", err)
	}
	return account, true, nil
}

// UntoldTrouble lists the tenant's problems no digest has told yet, oldest first.
func (t *Tx) UntoldTrouble(ctx context.Context) ([]Trouble, error) {
	rows, err := t.tx.Query(ctx, `SELECT id, event_id, coalesce(integration_id::text, ''), what, detail, at FROM trouble
		WHERE digest_id IS NULL ORDER BY at, id FOR UPDATE`)
	if err != nil {
		return nil, fmt.Errorf("read integration trouble: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Trouble])
	if err != nil {
		return nil, fmt.Errorf("read integration trouble: %w", err)
	}
	return list, nil
}

// DigestWritten marks the problems told by digest and leaves nothing due for the account until
// the next problem.
func (t *Tx) DigestWritten(ctx context.Context, accountID, digestID string, ids []int64, sent bool) error {
	if len(ids) > 0 {
		if _, err := t.tx.Exec(ctx, `UPDATE trouble SET digest_id = $2 WHERE id = ANY($1)`, ids, digestID); err != nil {
			return fmt.Errorf("mark trouble told: %w", err)
		}
	}
	q := `UPDATE digest_queue SET due_at = NULL WHERE account_id = $1`
	if sent {
		q = `UPDATE digest_queue SET due_at = NULL, last_sent_at = now() WHERE account_id = $1`
	}
	if _, err := t.tx.Exec(ctx, q, accountID); err != nil {
		return fmt.Errorf("mark digest written: %w", err)
	}
	return nil
}
