package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// Attempts is how many times a transaction runs when Postgres aborts it as a serialization
// failure or a deadlock victim: such an abort says nothing about the request, so it is run again.
const Attempts = 4

// InTx runs fn in a transaction that is not scoped to a tenant: it sees tenant-owned rows only
// through tables without row-level security (system tables such as the outbox). Like
// InTenantTx it may run fn more than once (see Retryable), so fn must not keep state across runs.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return retry(ctx, func() error { return pgx.BeginFunc(ctx, pool, fn) })
}

// InTenantTx runs fn in a transaction scoped to accountID. The scope is transaction-local
// (set_config(..., true)), so it ends with the transaction and can never leak to the next user
// of the pooled connection. fn runs again, in a new transaction, when Postgres aborts the first
// as a serialization failure or deadlock: fn must assign its results, not append to them.
func InTenantTx(ctx context.Context, pool *pgxpool.Pool, accountID string, fn func(pgx.Tx) error) error {
	if accountID == "" {
		return ErrNoTenant
	}
	return retry(ctx, func() error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := ScopeTx(ctx, tx, accountID); err != nil {
				return err
			}
			return fn(tx)
		})
	})
}

// Retryable reports whether err aborted a transaction for reasons of concurrency alone
// (serialization_failure 40001, deadlock_detected 40P01), so that running it again can succeed.
func Retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func retry(ctx context.Context, run func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if err = run(); err == nil || !Retryable(err) || attempt == Attempts {
			return err
		}
		// Jitter keeps the two sides of a deadlock from meeting again at once.
		backoff := time.Duration(attempt) * (5*time.Millisecond + rand.N(20*time.Millisecond))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
	}
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

// Transactions opens a service store's transactions and hands each one over as the store's own
// transaction type T (which carries the store's SQL methods), so every service's store opens
// transactions the same way. Embed it in the store.
type Transactions[T any] struct {
	pool *pgxpool.Pool
	wrap func(pgx.Tx) T
}

// NewTransactions returns Transactions over pool; wrap turns a pgx transaction into a T.
func NewTransactions[T any](pool *pgxpool.Pool, wrap func(pgx.Tx) T) Transactions[T] {
	return Transactions[T]{pool: pool, wrap: wrap}
}

// InTenant runs fn in a transaction scoped to accountID (row-level security); see InTenantTx,
// including why fn must assign its results rather than append to them.
func (s Transactions[T]) InTenant(ctx context.Context, accountID string, fn func(T) error) error {
	return InTenantTx(ctx, s.pool, accountID, func(tx pgx.Tx) error { return fn(s.wrap(tx)) })
}

// InSystem runs fn in a transaction scoped to no tenant: it reaches only the tables without
// row-level security (for the platform operator, authentication, and workers that find work
// before they know its tenant).
func (s Transactions[T]) InSystem(ctx context.Context, fn func(T) error) error {
	return InTx(ctx, s.pool, func(tx pgx.Tx) error { return fn(s.wrap(tx)) })
}

// Within hands a transaction opened elsewhere (an event consumer's, already scoped to the
// event's account) over as a T.
func (s Transactions[T]) Within(tx pgx.Tx) T { return s.wrap(tx) }
