package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

// recipientsJSON is the settings.recipients column.
type recipientsJSON struct {
	OwnershipChanged   *domain.Recipients `json:"ownershipChanged,omitempty"`
	ReviewCreated      *domain.Recipients `json:"reviewCreated,omitempty"`
	IntegrationTrouble *domain.Recipients `json:"integrationTrouble,omitempty"`
}

func deref(r *domain.Recipients) domain.Recipients {
	if r == nil {
		return domain.Recipients{}
	}
	return *r
}

// Settings reads the tenant's notification settings; an account that never set them has the
// defaults.
func (t *Tx) Settings(ctx context.Context) (domain.Settings, error) {
	var s domain.Settings
	var raw []byte
	err := t.tx.QueryRow(ctx, `SELECT recipients, reminder_quiet_days, hourly_email_cap, updated_at FROM settings`).
		Scan(&raw, &s.ReminderQuietDays, &s.HourlyEmailCap, &s.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Settings{}, nil
	}
	if err != nil {
		return s, fmt.Errorf("read notification settings: %w", err)
	}
	var r recipientsJSON
	if err := json.Unmarshal(raw, &r); err != nil {
		return s, fmt.Errorf("read notification settings: %w", err)
	}
	s.OwnershipChanged, s.ReviewCreated, s.IntegrationTrouble = deref(r.OwnershipChanged), deref(r.ReviewCreated), deref(r.IntegrationTrouble)
	return s, nil
}

// LockSettings serializes the account's settings changes.
func (t *Tx) LockSettings(ctx context.Context, accountID string) error {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('notification settings ' || $1, 0))`, accountID); err != nil {
		return fmt.Errorf("lock notification settings: %w", err)
	}
	return nil
}

// SaveSettings stores the tenant's notification settings.
func (t *Tx) SaveSettings(ctx context.Context, accountID string, s domain.Settings) error {
	raw, err := json.Marshal(recipientsJSON{OwnershipChanged: &s.OwnershipChanged, ReviewCreated: &s.ReviewCreated,
		IntegrationTrouble: &s.IntegrationTrouble})
	if err != nil {
		return err
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO settings (account_id, recipients, reminder_quiet_days, hourly_email_cap, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id) DO UPDATE SET recipients = excluded.recipients, reminder_quiet_days = excluded.reminder_quiet_days,
			hourly_email_cap = excluded.hourly_email_cap, updated_at = excluded.updated_at`,
		accountID, raw, s.ReminderQuietDays, s.HourlyEmailCap, s.Updated); err != nil {
		return fmt.Errorf("save notification settings: %w", err)
	}
	return nil
}

// UnknownUsers returns the ids among ids that are not users of the tenant.
func (t *Tx) UnknownUsers(ctx context.Context, ids []string) ([]string, error) {
	known, err := t.Users(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// Preferences reads the preferences users changed, by user and kind (a kind absent: the default).
func (t *Tx) Preferences(ctx context.Context, userIDs []string) (map[string]map[domain.Kind]domain.Preference, error) {
	out := map[string]map[domain.Kind]domain.Preference{}
	if len(userIDs) == 0 {
		return out, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT user_id::text, kind, email, in_app FROM preferences WHERE user_id = ANY($1::uuid[])`, validUUIDs(userIDs))
	if err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		var p domain.Preference
		if err := rows.Scan(&user, &p.Kind, &p.Email, &p.InApp); err != nil {
			return nil, fmt.Errorf("read preferences: %w", err)
		}
		if out[user] == nil {
			out[user] = map[domain.Kind]domain.Preference{}
		}
		out[user][p.Kind] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	return out, nil
}

// SavePreferences stores a user's preferences for the kinds in prefs.
func (t *Tx) SavePreferences(ctx context.Context, accountID, userID string, prefs []domain.Preference) error {
	for _, p := range prefs {
		if _, err := t.tx.Exec(ctx, `INSERT INTO preferences (account_id, user_id, kind, email, in_app) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, kind) DO UPDATE SET email = excluded.email, in_app = excluded.in_app`,
			accountID, userID, int16(p.Kind), p.Email, p.InApp); err != nil {
			return fmt.Errorf("save preference: %w", err)
		}
	}
	return nil
}

// TurnEmailOff turns one kind's email off for a user, leaving its in-app setting as it was.
func (t *Tx) TurnEmailOff(ctx context.Context, accountID, userID string, kind domain.Kind) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO preferences (account_id, user_id, kind, email, in_app) VALUES ($1, $2, $3, false, true)
		ON CONFLICT (user_id, kind) DO UPDATE SET email = false`, accountID, userID, int16(kind)); err != nil {
		return fmt.Errorf("turn email off: %w", err)
	}
	return nil
}

// RescheduleReminders sets when each review of the tenant not yet reminded for its last edit
// falls quiet, after the account's quiet period changed.
func (t *Tx) RescheduleReminders(ctx context.Context, quietDays int) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO reminder_queue (review_id, account_id, due_at)
		SELECT id, account_id, edited_at + make_interval(days => $1) FROM reviews WHERE reminded_for IS DISTINCT FROM edited_at
		ON CONFLICT (review_id) DO UPDATE SET due_at = excluded.due_at`, quietDays); err != nil {
		return fmt.Errorf("reschedule reminders: %w", err)
	}
	return nil
}

// ScheduleReminder sets when a review falls quiet (its last edit plus the quiet period).
func (t *Tx) ScheduleReminder(ctx context.Context, accountID, reviewID string, due time.Time) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO reminder_queue (review_id, account_id, due_at) VALUES ($1, $2, $3)
		ON CONFLICT (review_id) DO UPDATE SET due_at = excluded.due_at`, reviewID, accountID, due); err != nil {
		return fmt.Errorf("schedule reminder: %w", err)
	}
	return nil
}
