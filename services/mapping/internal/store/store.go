// Package store is the mapping service's SQL: pgx and plain SQL, one file per aggregate, Postgres
// errors turned into the domain's at this boundary.
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

// Migrations is the mapping schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("mapping", migrations) }

// Store opens the transactions every use case runs in (InTenant, InSystem, Within).
type Store struct{ postgres.Transactions[*Tx] }

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{Transactions: postgres.NewTransactions(pool, func(tx pgx.Tx) *Tx { return &Tx{tx: tx, Outbox: events.NewOutbox(tx)} })}
}

// Tx is one transaction; the methods of each aggregate's file run in it.
type Tx struct {
	tx pgx.Tx
	events.Outbox
}
