package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// CreateAccount inserts an account and scopes the transaction to it: the account row decides
// the tenant, so it comes first and everything after it runs under row-level security.
func (t *Tx) CreateAccount(ctx context.Context, displayName string) (domain.Account, error) {
	a := domain.Account{DisplayName: displayName}
	err := t.tx.QueryRow(ctx, `INSERT INTO accounts (display_name) VALUES ($1) RETURNING id::text, created_at`,
		displayName).Scan(&a.ID, &a.Created)
	if err != nil {
		return domain.Account{}, postgres.Translate(err)
	}
	if err := postgres.ScopeTx(ctx, t.tx, a.ID); err != nil {
		return domain.Account{}, err
	}
	return a, nil
}

// SeedAccount writes a new account's settings (its company name to start with) and its
// license limits row, which creating organizations locks.
func (t *Tx) SeedAccount(ctx context.Context, accountID, companyName string) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO account_settings (account_id, company_name) VALUES ($1, $2)`,
		accountID, companyName); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO account_limits (account_id) VALUES ($1)`, accountID)
	return err
}

// SeedOrganizationLists writes a new account's organization types and statuses.
func (t *Tx) SeedOrganizationLists(ctx context.Context, accountID string, types, statuses []string) error {
	for _, n := range types {
		if _, err := t.tx.Exec(ctx, `INSERT INTO organization_types (account_id, name) VALUES ($1, $2)`, accountID, n); err != nil {
			return err
		}
	}
	for _, n := range statuses {
		if _, err := t.tx.Exec(ctx, `INSERT INTO organization_statuses (account_id, name) VALUES ($1, $2)`, accountID, n); err != nil {
			return err
		}
	}
	return nil
}

// Account reads one account. Accounts are not tenant data (no row-level security), and a
// single statement needs no transaction around it.
func (s *Store) Account(ctx context.Context, id string) (domain.Account, error) {
	var a domain.Account
	err := s.pool.QueryRow(ctx, `SELECT id::text, display_name, created_at FROM accounts WHERE id = $1`, id).
		Scan(&a.ID, &a.DisplayName, &a.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Account{}, domain.ErrAccountNotFound
	}
	return a, err
}

// Accounts lists at most limit accounts oldest first; a page after the first continues after
// the account (afterCreated, afterID).
func (s *Store) Accounts(ctx context.Context, afterCreated time.Time, afterID string, limit int) ([]domain.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, display_name, created_at FROM accounts
		WHERE $1::text = '' OR (created_at, id) > ($2, $1::uuid) ORDER BY created_at, id LIMIT $3`,
		afterID, afterCreated, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Account, error) {
		var a domain.Account
		return a, r.Scan(&a.ID, &a.DisplayName, &a.Created)
	})
}
