package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// LicenseLimitForUpdate reads the account's enforced limit and use and locks the row: the same
// lock creates and reactivations take, so a lower limit cannot slip past a create running at the
// same moment.
func (t *Tx) LicenseLimitForUpdate(ctx context.Context) (domain.LicenseUsage, error) {
	return t.licenseUsage(ctx, `SELECT organization_limit, writable, active_count, generation FROM account_limits FOR UPDATE`)
}

// LicenseUsage reads the account's enforced limit and exact use.
func (t *Tx) LicenseUsage(ctx context.Context) (domain.LicenseUsage, error) {
	return t.licenseUsage(ctx, `SELECT organization_limit, writable, active_count, generation FROM account_limits`)
}

func (t *Tx) licenseUsage(ctx context.Context, query string) (domain.LicenseUsage, error) {
	var u domain.LicenseUsage
	var limit *int32
	err := t.tx.QueryRow(ctx, query).Scan(&limit, &u.Writable, &u.Used, &u.Generation)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.LicenseUsage{}, domain.ErrAccountNotFound
	}
	if err != nil {
		return domain.LicenseUsage{}, fmt.Errorf("read license limit: %w", err)
	}
	if limit == nil {
		u.Unlimited = true
	} else {
		u.Limit = *limit
	}
	return u, nil
}

// SetLicenseLimit stores the limit (NULL when unlimited) and the generation it came with. Call
// it after LicenseLimitForUpdate in the same transaction.
func (t *Tx) SetLicenseLimit(ctx context.Context, l domain.LicenseLimit) error {
	var limit *int32
	if !l.Unlimited {
		limit = &l.Limit
	}
	_, err := t.tx.Exec(ctx, `UPDATE account_limits SET organization_limit = $1, writable = $2, generation = $3`,
		limit, l.Writable, l.Generation)
	if err != nil {
		return fmt.Errorf("set license limit: %w", err)
	}
	return nil
}
