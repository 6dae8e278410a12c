package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

const notificationColumns = `id::text, user_id::text, kind, event_id, title, body, link, coalesce(review_id::text, ''),
	coalesce(organization_id::text, ''), created_at, read_at`

func scanNotification(r pgx.Row) (domain.Notification, error) {
	var n domain.Notification
	var read *time.Time
	err := r.Scan(&n.ID, &n.UserID, &n.Kind, &n.EventID, &n.Title, &n.Body, &n.Link, &n.ReviewID, &n.OrganizationID, &n.Created, &read)
	if read != nil {
		n.Read = *read
	}
	return n, err
}

func collectNotifications(rows pgx.Rows, err error) ([]domain.Notification, error) {
	if err != nil {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Notification, error) { return scanNotification(r) })
	if err != nil {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	return list, nil
}

// AddNotification adds an entry to a user's feed and signals the feed's listeners at commit; false
// when the entry was there already (the same event, kind and user).
func (t *Tx) AddNotification(ctx context.Context, accountID string, n domain.Notification) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO notifications (id, account_id, user_id, kind, event_id, title, body, link, review_id,
			organization_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (event_id, kind, user_id) DO NOTHING`,
		n.ID, accountID, n.UserID, int16(n.Kind), n.EventID, n.Title, n.Body, n.Link, nullUUID(n.ReviewID), nullUUID(n.OrganizationID), n.Created)
	if err != nil {
		return false, fmt.Errorf("add notification: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	// Delivered at commit, collapsed per transaction and payload.
	if _, err := t.tx.Exec(ctx, `SELECT pg_notify($1, $2)`, FeedChannel, accountID+"/"+n.UserID); err != nil {
		return false, fmt.Errorf("signal feed: %w", err)
	}
	return true, nil
}

// FeedPosition is a place in a feed, newest first.
type FeedPosition struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Notifications lists a user's feed newest first, after a position when given.
func (t *Tx) Notifications(ctx context.Context, userID string, unreadOnly bool, after *FeedPosition, limit int) ([]domain.Notification, error) {
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE user_id = $1 AND ($2::bool IS FALSE OR read_at IS NULL)`
	args := []any{userID, unreadOnly}
	if after != nil {
		q += ` AND (created_at, id) < ($3, $4::uuid)`
		args = append(args, after.At, after.ID)
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, limit)
	return collectNotifications(t.tx.Query(ctx, q, args...))
}

// NotificationsSince lists a user's entries recorded at or after since, oldest first (what a live
// stream has yet to send).
func (t *Tx) NotificationsSince(ctx context.Context, userID string, since time.Time) ([]domain.Notification, error) {
	return collectNotifications(t.tx.Query(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE user_id = $1 AND created_at >= $2 ORDER BY created_at, id LIMIT 500`, userID, since))
}

// UnreadCount counts a user's unread entries.
func (t *Tx) UnreadCount(ctx context.Context, userID string) (int64, error) {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// MarkRead marks one of a user's entries read (keeping the first time it was read).
func (t *Tx) MarkRead(ctx context.Context, userID, id string, at time.Time) (domain.Notification, error) {
	n, err := scanNotification(t.tx.QueryRow(ctx, `UPDATE notifications SET read_at = coalesce(read_at, $3)
		WHERE id = $1 AND user_id = $2 RETURNING `+notificationColumns, id, userID, at))
	if errors.Is(err, pgx.ErrNoRows) {
		return n, domain.ErrNotificationNotFound
	}
	if err != nil {
		return n, fmt.Errorf("mark notification read: %w", err)
	}
	return n, nil
}

// MarkAllRead marks every unread entry of a user read.
func (t *Tx) MarkAllRead(ctx context.Context, userID string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL`, userID, at); err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	return nil
}
