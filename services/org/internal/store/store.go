// Package store keeps the org service's data in its own Postgres schema.
package store

import (
	"context"
	"embed"
	"errors"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/account"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the org schema's migration set.
func Migrations() postgres.MigrationSet {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fixed at compile time
	}
	return postgres.MigrationSet{Name: "org", FS: sub}
}

// Accounts implements account.Store.
type Accounts struct {
	pool *pgxpool.Pool
}

// NewAccounts returns an account store over pool.
func NewAccounts(pool *pgxpool.Pool) *Accounts { return &Accounts{pool: pool} }

var _ account.Store = (*Accounts)(nil)

// Create inserts the account and its account.created event in one transaction.
func (s *Accounts) Create(ctx context.Context, displayName string) (account.Account, error) {
	var a account.Account
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx,
			`INSERT INTO accounts (display_name) VALUES ($1) RETURNING id::text, display_name, created_at`,
			displayName).Scan(&a.ID, &a.DisplayName, &a.CreateTime)
		if err != nil {
			return postgres.Translate(err)
		}
		_, err = events.Enqueue(ctx, tx, &orgv1.AccountCreated{AccountId: a.ID, DisplayName: a.DisplayName})
		return err
	})
	return a, err
}

// Get reads one account.
func (s *Accounts) Get(ctx context.Context, id string) (account.Account, error) {
	var a account.Account
	err := s.pool.QueryRow(ctx,
		`SELECT id::text, display_name, created_at FROM accounts WHERE id = $1`, id).
		Scan(&a.ID, &a.DisplayName, &a.CreateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, account.ErrNotFound
	}
	return a, postgres.Translate(err)
}

// List reads one page of accounts, oldest first.
func (s *Accounts) List(ctx context.Context, p account.Page) ([]account.Account, error) {
	const cols = `SELECT id::text, display_name, created_at FROM accounts`
	var rows pgx.Rows
	var err error
	if p.After == nil {
		rows, err = s.pool.Query(ctx, cols+` ORDER BY created_at, id LIMIT $1`, p.Size)
	} else {
		rows, err = s.pool.Query(ctx, cols+` WHERE (created_at, id) > ($1, $2::uuid) ORDER BY created_at, id LIMIT $3`,
			p.After.CreateTime, p.After.ID, p.Size)
	}
	if err != nil {
		return nil, postgres.Translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Account, error) {
		var a account.Account
		err := r.Scan(&a.ID, &a.DisplayName, &a.CreateTime)
		return a, err
	})
	return out, postgres.Translate(err)
}
