// Package store is the org service's SQL: one file per aggregate, pgx and plain SQL only. It
// turns Postgres errors into the domain's sentinels at this boundary (a unique violation on an
// organization's name is domain.ErrDuplicateName), so nothing above it sees SQLSTATEs.
package store

import (
	"embed"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the org schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("org", migrations) }

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

// Sealed is a sealed value as the rotate command reads it: the id of the row it is in (a user, a
// flow, an account) and the value.
type Sealed struct {
	ID    string
	Value []byte
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
