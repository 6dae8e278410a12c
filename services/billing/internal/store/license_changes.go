package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

// InsertLicenseChange records a change of the account's licenses: delta licenses, leaving limit.
func (t *Tx) InsertLicenseChange(ctx context.Context, accountID string, delta, limit int32, changedBy string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO license_changes (account_id, delta, organization_limit, changed_by, created_at)
		VALUES ($1, $2, $3, $4, $5)`, accountID, delta, limit, changedBy, at); err != nil {
		return fmt.Errorf("record license change: %w", err)
	}
	return nil
}

// LicenseChanges lists up to limit of the account's license changes, newest first, after the
// change recorded at afterAt as afterSeq (afterSeq 0: from the newest).
func (t *Tx) LicenseChanges(ctx context.Context, afterAt time.Time, afterSeq int64, limit int) ([]domain.LicenseChange, error) {
	rows, err := t.tx.Query(ctx, `SELECT id::text, seq, delta, organization_limit, changed_by, created_at FROM license_changes
		WHERE $1::bigint = 0 OR (created_at, seq) < ($2::timestamptz, $1::bigint)
		ORDER BY created_at DESC, seq DESC LIMIT $3`, afterSeq, afterAt, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.LicenseChange, error) {
		var c domain.LicenseChange
		err := r.Scan(&c.ID, &c.Seq, &c.Delta, &c.Limit, &c.ChangedBy, &c.At)
		return c, err
	})
}
