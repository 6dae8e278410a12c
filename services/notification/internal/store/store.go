// Package store is the notification service's SQL: pgx and plain SQL, one file per aggregate,
// Postgres errors turned into the domain's at this boundary.
package store

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the notification schema's migration set.
func Migrations() postgres.MigrationSet {
	return postgres.EmbeddedMigrations("notification", migrations)
}

// FeedChannel is the Postgres notification channel a transaction that adds to a feed signals on,
// with "<account id>/<user id>" as payload; every replica's stream handlers listen on it.
const FeedChannel = "notification_feed"

// Store opens the transactions every use case runs in (InTenant, InSystem, Within).
type Store struct {
	postgres.Transactions[*Tx]
	pool *pgxpool.Pool
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{Transactions: postgres.NewTransactions(pool, func(tx pgx.Tx) *Tx { return &Tx{tx: tx} }), pool: pool}
}

// Tx is one transaction; the methods of each aggregate's file run in it.
type Tx struct {
	tx pgx.Tx
}

// Scope scopes a system transaction to the tenant of the work it claimed, so the rest of the work
// runs under row-level security in the same transaction as the claim.
func (t *Tx) Scope(ctx context.Context, accountID string) error {
	return postgres.ScopeTx(ctx, t.tx, accountID)
}

// Listen returns a connection of its own (out of the pool) listening on FeedChannel; the caller
// closes it.
func (s *Store) Listen(ctx context.Context) (*pgx.Conn, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen for feed changes: %w", err)
	}
	conn := c.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{FeedChannel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listen for feed changes: %w", err)
	}
	return conn, nil
}
