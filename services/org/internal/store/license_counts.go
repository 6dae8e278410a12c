package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// TakeLicenses counts n more active organizations in, of which created are new organizations
// (rather than reactivated ones), if they fit; it reports whether they did, with the limit and
// use it decided on (before the increment). It is one statement that locks the account_limits
// row, checks and increments, and callers run it last in their transaction: the lock serializes
// every create of the account, so it is held only from here to the commit. A refusal is
// explained with the counts this statement saw under the lock, never with a second read that a
// create committing in between could have changed ("61 of 62 in use" for a refusal).
func (t *Tx) TakeLicenses(ctx context.Context, n, created int) (domain.LicenseCount, bool, error) {
	var c domain.LicenseCount
	var limit *int
	var took bool
	// "cur" is materialized once, locked (READ COMMITTED re-reads the row after waiting for the
	// lock), and both the update's condition and the answer use it.
	err := t.tx.QueryRow(ctx, `WITH cur AS (
			SELECT organization_limit, writable, active_count FROM account_limits FOR UPDATE
		), took AS (
			UPDATE account_limits SET active_count = account_limits.active_count + $1, total_count = total_count + $2
			FROM cur WHERE cur.writable AND (cur.organization_limit IS NULL OR cur.active_count + $1 <= cur.organization_limit)
			RETURNING 1
		)
		SELECT organization_limit, writable, active_count, EXISTS (SELECT FROM took) FROM cur`, n, created).
		Scan(&limit, &c.Writable, &c.Used, &took)
	if err != nil {
		return domain.LicenseCount{}, false, fmt.Errorf("take licenses: %w", err)
	}
	if limit == nil {
		c.Unlimited = true
	} else {
		c.Limit = *limit
	}
	return c, took, nil
}

// ReleaseLicenses counts n active organizations out, of which deleted are gone altogether.
func (t *Tx) ReleaseLicenses(ctx context.Context, n, deleted int) error {
	if n == 0 && deleted == 0 {
		return nil
	}
	_, err := t.tx.Exec(ctx, `UPDATE account_limits SET active_count = active_count - $1, total_count = total_count - $2`, n, deleted)
	return err
}

// AccountWritable reports whether the account's subscription allows changes, in one round trip:
// the two statements of a batch run as one implicit transaction, the first scoping it to the
// account, as API-key authentication does. Every member write asks it first.
func (s *Store) AccountWritable(ctx context.Context, accountID string) (bool, error) {
	batch := &pgx.Batch{}
	batch.Queue(`SELECT set_config('app.account_id', $1, true)`, accountID)
	batch.Queue(`SELECT writable FROM account_limits`)
	br := s.pool.SendBatch(ctx, batch)
	var writable bool
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&writable)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return false, domain.ErrAccountNotFound
	}
	return writable, err
}
