package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

// StartUsageCounter gives a new account its running count of active organizations.
func (t *Tx) StartUsageCounter(ctx context.Context, accountID string) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO usage_counters (account_id) VALUES ($1) ON CONFLICT DO NOTHING`, accountID)
	return err
}

// RecordUsage moves the running count by delta (never below 0) and writes the day's record:
// the count at the end of the day so far and its peak.
func (t *Tx) RecordUsage(ctx context.Context, accountID string, delta int, at time.Time) error {
	var active int
	err := t.tx.QueryRow(ctx, `INSERT INTO usage_counters (account_id, active) VALUES ($1, greatest($2::int, 0))
		ON CONFLICT (account_id) DO UPDATE SET active = greatest(usage_counters.active + $2::int, 0) RETURNING active`,
		accountID, delta).Scan(&active)
	if err != nil {
		return fmt.Errorf("count usage: %w", err)
	}
	before := active - delta
	_, err = t.tx.Exec(ctx, `INSERT INTO daily_usage (account_id, day, active, peak) VALUES ($1, $2::date, $3::int, greatest($3::int, $4::int))
		ON CONFLICT (account_id, day) DO UPDATE SET active = $3::int, peak = greatest(daily_usage.peak, $3::int)`,
		accountID, at.UTC().Format(time.DateOnly), active, max(before, 0))
	if err != nil {
		return fmt.Errorf("record daily usage: %w", err)
	}
	return nil
}

// UsageHistory returns one record per day of r, the first limit days of it; a day without
// changes carries the previous day's count.
func (t *Tx) UsageHistory(ctx context.Context, r domain.DateRange, limit int) ([]domain.DailyUsage, error) {
	rows, err := t.tx.Query(ctx, `SELECT to_char(d, 'YYYY-MM-DD'),
			coalesce(u.active, prev.active, 0), coalesce(u.peak, prev.active, 0)
		FROM generate_series($1::date, $2::date, interval '1 day') d
		LEFT JOIN daily_usage u ON u.day = d::date
		LEFT JOIN LATERAL (SELECT p.active FROM daily_usage p WHERE p.day < d::date ORDER BY p.day DESC LIMIT 1) prev ON true
		ORDER BY d LIMIT $3`, r.From, r.To, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.DailyUsage, error) {
		var d domain.DailyUsage
		err := r.Scan(&d.Date, &d.Active, &d.Peak)
		return d, err
	})
}
