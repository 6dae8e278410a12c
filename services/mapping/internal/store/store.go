// Package store is the mapping service's SQL: pgx and plain SQL, one file per aggregate, Postgres
// errors turned into the domain's at this boundary.
package store

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the mapping schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("mapping", migrations) }

// Store opens the transactions the use cases run in.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Tx is one transaction; the methods of each aggregate's file run in it.
type Tx struct{ tx pgx.Tx }

// InTenant runs fn in a transaction scoped to accountID (row-level security). fn may run again
// after a serialization failure or deadlock, so it must assign its results, not append to them.
func (s *Store) InTenant(ctx context.Context, accountID string, fn func(*Tx) error) error {
	return postgres.InTenantTx(ctx, s.pool, accountID, func(tx pgx.Tx) error { return fn(&Tx{tx: tx}) })
}

// Within wraps a transaction the platform opened (an event consumer's), already scoped to the
// event's account.
func Within(tx pgx.Tx) *Tx { return &Tx{tx: tx} }
