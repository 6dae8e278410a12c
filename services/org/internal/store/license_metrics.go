package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LicenseUse is one account's use of its organization limit.
type LicenseUse struct {
	AccountID   string
	Used, Limit int64
}

// LicenseUseSummary is what the license metrics report: how many accounts are under, at and over
// their limit (an unlimited account is under), and the accounts nearest their limit.
type LicenseUseSummary struct {
	Under, AtLimit, OverLimit int64
	// Nearest are at most the top accounts with a limit, the fullest first (use over limit,
	// then the fewest organizations left).
	Nearest []LicenseUse
}

// LicenseUseSummary reads every account's use against its limit, in one read-only transaction
// that the license_metrics policy lets see all accounts (migration 00012); top bounds Nearest,
// and so the metrics' cardinality.
func (s *Store) LicenseUseSummary(ctx context.Context, top int) (LicenseUseSummary, error) {
	var sum LicenseUseSummary
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		sum = LicenseUseSummary{}
		if _, err := tx.Exec(ctx, `SELECT set_config('app.license_metrics', 'on', true)`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE organization_limit IS NULL OR active_count < organization_limit),
				count(*) FILTER (WHERE active_count = organization_limit),
				count(*) FILTER (WHERE active_count > organization_limit)
			FROM account_limits`).Scan(&sum.Under, &sum.AtLimit, &sum.OverLimit)
		if err != nil {
			return err
		}
		// A limit of 0 is full from the start (over it with any organization active).
		rows, err := tx.Query(ctx, `SELECT account_id::text, active_count, organization_limit FROM account_limits
			WHERE organization_limit IS NOT NULL
			ORDER BY CASE WHEN organization_limit > 0 THEN active_count::float8 / organization_limit
			              WHEN active_count > 0 THEN 'Infinity'::float8 ELSE 1 END DESC,
			         organization_limit - active_count, account_id
			LIMIT $1`, top)
		if err != nil {
			return err
		}
		sum.Nearest, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (LicenseUse, error) {
			var u LicenseUse
			return u, r.Scan(&u.AccountID, &u.Used, &u.Limit)
		})
		return err
	})
	if err != nil {
		return LicenseUseSummary{}, fmt.Errorf("license use summary: %w", err)
	}
	return sum, nil
}
