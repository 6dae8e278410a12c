package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TenantSetting is the transaction-local setting that row-level security policies compare
// account_id with. Policies are written as
//
//	USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
//
// so a query run without a tenant (the setting unset, or ” once a pooled connection has seen
// it) matches no row at all.
const TenantSetting = "app.account_id"

// ErrNoTenant guards against scoping a transaction to the empty tenant by mistake.
var ErrNoTenant = errors.New("postgres: tenant transaction without an account id")

// InTx runs fn in a transaction that is not scoped to a tenant: it sees tenant-owned rows only
// through tables without row-level security (system tables such as the outbox).
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}

// InTenantTx runs fn in a transaction scoped to accountID. The scope is transaction-local
// (set_config(..., true)), so it ends with the transaction and can never leak to the next user
// of the pooled connection.
func InTenantTx(ctx context.Context, pool *pgxpool.Pool, accountID string, fn func(pgx.Tx) error) error {
	if accountID == "" {
		return ErrNoTenant
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := ScopeTx(ctx, tx, accountID); err != nil {
			return err
		}
		return fn(tx)
	})
}

// ScopeTx scopes an already open transaction to accountID.
func ScopeTx(ctx context.Context, tx pgx.Tx, accountID string) error {
	if accountID == "" {
		return ErrNoTenant
	}
	if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", TenantSetting, accountID); err != nil {
		return fmt.Errorf("scope transaction to tenant: %w", err)
	}
	return nil
}
