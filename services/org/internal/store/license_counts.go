package store

import (
	"context"
	"fmt"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// TakeLicenses counts n more active organizations in, of which created are new organizations
// (rather than reactivated ones), if they fit; it reports whether they did. It is one statement
// that checks and increments under the account_limits row lock, and callers run it last in their
// transaction: the lock serializes every create of the account, so it is held only from here to
// the commit.
func (t *Tx) TakeLicenses(ctx context.Context, n, created int) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE account_limits SET active_count = active_count + $1, total_count = total_count + $2
		WHERE writable AND (organization_limit IS NULL OR active_count + $1 <= organization_limit)`, n, created)
	if err != nil {
		return false, fmt.Errorf("take licenses: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLicenses counts n active organizations out, of which deleted are gone altogether.
func (t *Tx) ReleaseLicenses(ctx context.Context, n, deleted int) error {
	if n == 0 && deleted == 0 {
		return nil
	}
	_, err := t.tx.Exec(ctx, `UPDATE account_limits SET active_count = active_count - $1, total_count = total_count - $2`, n, deleted)
	return err
}

// LicenseCount reads the account's limit and how many organizations are active, to explain a
// refused TakeLicenses.
func (t *Tx) LicenseCount(ctx context.Context) (domain.LicenseCount, error) {
	var c domain.LicenseCount
	var limit *int
	if err := t.tx.QueryRow(ctx, `SELECT organization_limit, writable, active_count FROM account_limits`).Scan(&limit, &c.Writable, &c.Used); err != nil {
		return domain.LicenseCount{}, fmt.Errorf("read license limit: %w", err)
	}
	if limit == nil {
		c.Unlimited = true
	} else {
		c.Limit = *limit
	}
	return c, nil
}
