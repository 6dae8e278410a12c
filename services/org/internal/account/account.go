// Package account is the domain of accounts: one per MSP, the tenant boundary of everything else.
package account

import (
	"context"
	"fmt"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
)

// Account is an MSP using Orgplane.
type Account struct {
	ID          string
	DisplayName string
	CreateTime  time.Time
}

// Page is a keyset position in the oldest-first account list.
type Page struct {
	After *Account // the last account of the previous page; nil for the first page
	Size  int
}

// ErrNotFound hides whether an account exists from callers that may not see it.
var ErrNotFound = apperr.NotFound("account not found")

// Store keeps accounts. Create also records the account.created event in the same transaction.
type Store interface {
	Create(ctx context.Context, displayName string) (Account, error)
	Get(ctx context.Context, id string) (Account, error)
	List(ctx context.Context, p Page) ([]Account, error)
}

// Service applies who-may-do-what to accounts.
type Service struct {
	store Store
}

// NewService returns a Service over store.
func NewService(store Store) *Service { return &Service{store: store} }

// Create creates an account; platform operators only.
func (s *Service) Create(ctx context.Context, displayName string) (Account, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return Account{}, err
	}
	a, err := s.store.Create(ctx, displayName)
	if err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// Get returns an account to an operator or to a caller inside that account. Anyone else gets
// ErrNotFound, exactly as for an account that does not exist.
func (s *Service) Get(ctx context.Context, id string) (Account, error) {
	caller, ok := identity.From(ctx)
	if !ok {
		return Account{}, identity.ErrUnauthenticated
	}
	if !caller.Operator() && caller.AccountID != id {
		return Account{}, ErrNotFound
	}
	a, err := s.store.Get(ctx, id)
	if err != nil {
		return Account{}, fmt.Errorf("get account %s: %w", id, err)
	}
	return a, nil
}

// List lists accounts oldest first; platform operators only.
func (s *Service) List(ctx context.Context, p Page) ([]Account, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	return s.store.List(ctx, p)
}
