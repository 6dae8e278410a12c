// Package store is the billing service's SQL: one file per aggregate, pgx and plain SQL only,
// taking and returning domain types. Its migrations are embedded from migrations/.
package store

import (
	"context"
	"embed"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the billing schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("billing", migrations) }

// Store opens the transactions every use case runs in.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Tx is one transaction; the methods of each aggregate's file run in it.
type Tx struct{ tx pgx.Tx }

// Wrap lets store methods run in a transaction opened elsewhere: an event consumer's, which
// also records the event as handled.
func Wrap(tx pgx.Tx) *Tx { return &Tx{tx: tx} }

// InTenant runs fn in a transaction scoped to accountID (row-level security). fn may run again
// after a serialization failure or deadlock, so it must assign its results, not append to them.
func (s *Store) InTenant(ctx context.Context, accountID string, fn func(*Tx) error) error {
	return postgres.InTenantTx(ctx, s.pool, accountID, func(tx pgx.Tx) error { return fn(&Tx{tx: tx}) })
}

// Enqueue writes event msg to the outbox in this transaction, stamped at (the service's clock),
// so the event exists exactly when the change does.
func (t *Tx) Enqueue(ctx context.Context, msg proto.Message, at time.Time) error {
	_, err := events.EnqueueAt(ctx, t.tx, msg, at)
	return err
}

// millis passes a duration to SQL as whole milliseconds ($n * interval '1 millisecond').
func millis(d time.Duration) int64 { return d.Milliseconds() }
