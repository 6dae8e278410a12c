package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

// AddDelivery records a delivery; a pending email also enters the send queue, due now. False when
// the delivery was there already (the same event, kind, channel and recipient).
func (t *Tx) AddDelivery(ctx context.Context, accountID, recipient string, d domain.Delivery) (bool, error) {
	var sent *time.Time
	if !d.Sent.IsZero() {
		sent = &d.Sent
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO deliveries (id, account_id, event_id, kind, channel, user_id, address, recipient, subject,
			text_body, html_body, unsubscribe_url, status, attempts, error, created_at, sent_at, link_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16, $17)
		ON CONFLICT (event_id, kind, channel, recipient) DO NOTHING`,
		d.ID, accountID, d.EventID, int16(d.Kind), int16(d.Channel), nullUUID(d.UserID), d.Address, recipient, d.Subject,
		d.TextBody, d.HTMLBody, d.UnsubscribeURL, int16(d.Status), d.Error, d.Created, sent, nullUUID(d.LinkID))
	if err != nil {
		return false, fmt.Errorf("record delivery: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if d.Channel == domain.ChannelEmail && d.Status == domain.StatusPending {
		if _, err := t.tx.Exec(ctx, `INSERT INTO send_queue (delivery_id, account_id, due_at) VALUES ($1, $2, now())`, d.ID, accountID); err != nil {
			return false, fmt.Errorf("queue email: %w", err)
		}
	}
	return true, nil
}

// EmailsSince counts the tenant's emails sent or waiting that were recorded at or after since,
// after taking the account's cap lock: two transactions recording emails for one account count
// one after the other, so together they never pass the cap.
func (t *Tx) EmailsSince(ctx context.Context, accountID string, since time.Time) (int, error) {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('notification email cap ' || $1, 0))`, accountID); err != nil {
		return 0, fmt.Errorf("lock email cap: %w", err)
	}
	// The sign-in emails (link_id set) are not held to the cap, so they do not count against it.
	var n int
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE account_id = $1 AND channel = 1 AND status IN (1, 2)
		AND link_id IS NULL AND created_at >= $2`, accountID, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recent emails: %w", err)
	}
	return n, nil
}

const deliveryColumns = `id::text, event_id, kind, channel, coalesce(user_id::text, ''), address, status, attempts, error, subject,
	created_at, sent_at, text_body, html_body, unsubscribe_url, coalesce(link_id::text, '')`

func scanDelivery(r pgx.Row) (domain.Delivery, error) {
	var d domain.Delivery
	var sent *time.Time
	err := r.Scan(&d.ID, &d.EventID, &d.Kind, &d.Channel, &d.UserID, &d.Address, &d.Status, &d.Attempts, &d.Error, &d.Subject,
		&d.Created, &sent, &d.TextBody, &d.HTMLBody, &d.UnsubscribeURL, &d.LinkID)
	if sent != nil {
		d.Sent = *sent
	}
	return d, err
}

// DeliveryPosition is a place in the delivery record, newest first.
type DeliveryPosition struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Deliveries lists the tenant's deliveries newest first (of one status when status is set), after
// a position when given.
func (t *Tx) Deliveries(ctx context.Context, status domain.Status, after *DeliveryPosition, limit int) ([]domain.Delivery, error) {
	q := `SELECT ` + deliveryColumns + ` FROM deliveries WHERE ($1::smallint = 0 OR status = $1)`
	args := []any{int16(status)}
	if after != nil {
		q += ` AND (created_at, id) < ($2, $3::uuid)`
		args = append(args, after.At, after.ID)
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, limit)
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	// The bodies are for the sender; a list does not carry them.
	for i := range list {
		list[i].TextBody, list[i].HTMLBody = "", ""
	}
	return list, nil
}

// PendingEmail reads a pending email of the tenant; false when it is gone or no longer pending.
func (t *Tx) PendingEmail(ctx context.Context, id string) (domain.Delivery, bool, error) {
	d, err := scanDelivery(t.tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1 AND channel = 1 AND status = 1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("read email: %w", err)
	}
	return d, true, nil
}

// SendClaim is a queued email leased to a worker.
type SendClaim struct {
	DeliveryID string
	AccountID  string
}

// ClaimSends leases up to limit due emails to owner (system scope).
func (t *Tx) ClaimSends(ctx context.Context, owner string, lease time.Duration, limit int) ([]SendClaim, error) {
	rows, err := t.tx.Query(ctx, `UPDATE send_queue SET lease_until = now() + $2 * interval '1 millisecond', lease_owner = $1
		WHERE delivery_id IN (SELECT delivery_id FROM send_queue WHERE greatest(due_at, lease_until) <= now()
			ORDER BY greatest(due_at, lease_until) LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING delivery_id::text, account_id::text`, owner, lease.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("claim emails: %w", err)
	}
	claims, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SendClaim])
	if err != nil {
		return nil, fmt.Errorf("claim emails: %w", err)
	}
	return claims, nil
}

// RenewSendLeases extends owner's leases of ids (system scope).
func (t *Tx) RenewSendLeases(ctx context.Context, ids []string, owner string, lease time.Duration) error {
	if _, err := t.tx.Exec(ctx, `UPDATE send_queue SET lease_until = now() + $3 * interval '1 millisecond'
		WHERE delivery_id = ANY($1::uuid[]) AND lease_owner = $2`, ids, owner, lease.Milliseconds()); err != nil {
		return fmt.Errorf("renew email leases: %w", err)
	}
	return nil
}

// ForgetQueued drops a queue entry whose email is gone or no longer pending (system scope).
func (t *Tx) ForgetQueued(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM send_queue WHERE delivery_id = $1`, id); err != nil {
		return fmt.Errorf("forget queued email: %w", err)
	}
	return nil
}

// EmailSent records that the relay accepted an email, and takes it off the queue. address, when
// set, is where it went (a sign-in email goes where org said when it issued the link).
func (t *Tx) EmailSent(ctx context.Context, id string, at time.Time, address string) error {
	if _, err := t.tx.Exec(ctx, `UPDATE deliveries SET status = 2, attempts = attempts + 1, error = '', sent_at = $2,
			address = coalesce(nullif($3, ''), address)
		WHERE id = $1 AND status = 1`, id, at, address); err != nil {
		return fmt.Errorf("record email sent: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM send_queue WHERE delivery_id = $1`, id); err != nil {
		return fmt.Errorf("record email sent: %w", err)
	}
	return nil
}

// EmailAttemptFailed records a failed try and returns how many tries there have been.
func (t *Tx) EmailAttemptFailed(ctx context.Context, id, reason string) (int, error) {
	var n int
	if err := t.tx.QueryRow(ctx, `UPDATE deliveries SET attempts = attempts + 1, error = $2 WHERE id = $1 AND status = 1
		RETURNING attempts`, id, reason).Scan(&n); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		return 0, fmt.Errorf("record email attempt: %w", err)
	}
	return n, nil
}

// RetryEmail puts an email back on the queue, due after wait.
func (t *Tx) RetryEmail(ctx context.Context, id string, wait time.Duration) error {
	if _, err := t.tx.Exec(ctx, `UPDATE send_queue SET due_at = now() + $2 * interval '1 millisecond', lease_until = '-infinity',
		lease_owner = '' WHERE delivery_id = $1`, id, wait.Milliseconds()); err != nil {
		return fmt.Errorf("requeue email: %w", err)
	}
	return nil
}

// EmailFailed gives an email up: failed, with the relay's last words, and off the queue.
func (t *Tx) EmailFailed(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `UPDATE deliveries SET status = 3 WHERE id = $1 AND status = 1`, id); err != nil {
		return fmt.Errorf("record email failed: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM send_queue WHERE delivery_id = $1`, id); err != nil {
		return fmt.Errorf("record email failed: %w", err)
	}
	return nil
}

// EmailSkipped gives a waiting email up without sending it: skipped, with why, and off the queue.
func (t *Tx) EmailSkipped(ctx context.Context, id, reason string) error {
	if _, err := t.tx.Exec(ctx, `UPDATE deliveries SET status = 4, error = $2 WHERE id = $1 AND status = 1`, id, reason); err != nil {
		return fmt.Errorf("record email skipped: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM send_queue WHERE delivery_id = $1`, id); err != nil {
		return fmt.Errorf("record email skipped: %w", err)
	}
	return nil
}

// SupersedeLinkEmails skips the tenant's emails still waiting for the sign-in link linkID: org
// replaces a link's token each time it issues one, so only the newest email's link would work.
func (t *Tx) SupersedeLinkEmails(ctx context.Context, linkID string) error {
	rows, err := t.tx.Query(ctx, `UPDATE deliveries SET status = 4, error = $2 WHERE link_id = $1 AND status = 1 RETURNING id::text`,
		linkID, domain.SkipSuperseded)
	if err != nil {
		return fmt.Errorf("supersede sign-in emails: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("supersede sign-in emails: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM send_queue WHERE delivery_id = ANY($1::uuid[])`, ids); err != nil {
		return fmt.Errorf("supersede sign-in emails: %w", err)
	}
	return nil
}
