// Package store is the billing service's SQL: one file per aggregate, pgx and plain SQL only,
// taking and returning domain types. Its migrations are embedded from migrations/.
package store

import (
	"embed"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the billing schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("billing", migrations) }

// Store opens the transactions every use case runs in (InTenant, InSystem, Within); the few
// statements that need no transaction run on the pool.
type Store struct {
	postgres.Transactions[*Tx]
	pool *pgxpool.Pool
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{Transactions: postgres.NewTransactions(pool, func(tx pgx.Tx) *Tx { return &Tx{tx: tx, Outbox: events.NewOutbox(tx)} }), pool: pool}
}

// Tx is one transaction; the methods of each aggregate's file run in it, and its outbox takes
// the events of the change (Enqueue).
type Tx struct {
	tx pgx.Tx
	events.Outbox
}

// millis passes a duration to SQL as whole milliseconds ($n * interval '1 millisecond').
func millis(d time.Duration) int64 { return d.Milliseconds() }
