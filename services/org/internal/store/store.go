// Package store is the org service's SQL: one file per aggregate, pgx and plain SQL only. It
// turns Postgres errors into the domain's sentinels at this boundary (a unique violation on an
// organization's name is domain.ErrDuplicateName), so nothing above it sees SQLSTATEs.
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

// Migrations is the org schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("org", migrations) }

// Store opens the transactions every use case runs in.
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

// InSystem runs fn in a transaction scoped to no tenant: it reaches only the tables without
// row-level security (accounts, API key lookup), for the platform operator and authentication.
func (s *Store) InSystem(ctx context.Context, fn func(*Tx) error) error {
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error { return fn(&Tx{tx: tx}) })
}

// Enqueue writes event msg to the outbox in this transaction, stamped at (the service's clock),
// so the event exists exactly when the change does.
func (t *Tx) Enqueue(ctx context.Context, msg proto.Message, at time.Time) error {
	_, err := events.EnqueueAt(ctx, t.tx, msg, at)
	return err
}

// EnqueueBatch writes many events with one COPY (bulk changes).
func (t *Tx) EnqueueBatch(ctx context.Context, msgs []proto.Message, at time.Time) error {
	return events.EnqueueBatch(ctx, t.tx, msgs, at)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
