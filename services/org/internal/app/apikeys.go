package app

import (
	"context"

	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// CreateAPIKey creates a key and returns it with its secret, which is shown only now.
func (s *Service) CreateAPIKey(ctx context.Context, accountID string, k domain.APIKey) (domain.APIKey, string, error) {
	if _, err := caller(ctx, accountID, domain.Write(domain.AreaAPIKeys)); err != nil {
		return domain.APIKey{}, "", err
	}
	if err := domain.CheckNewAPIKey(k); err != nil {
		return domain.APIKey{}, "", err
	}
	var out domain.APIKey
	var secret string
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		sec := domain.NewAPIKeySecret()
		key, err := tx.InsertAPIKey(ctx, accountID, k, sec)
		out, secret = key, sec
		return err
	})
	if err != nil {
		return domain.APIKey{}, "", err
	}
	return out, secret, nil
}

// ListAPIKeys lists the account's keys, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, accountID string) ([]domain.APIKey, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaAPIKeys)); err != nil {
		return nil, err
	}
	var out []domain.APIKey
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		keys, err := tx.APIKeys(ctx)
		out = keys
		return err
	})
	return out, err
}

// RevokeAPIKey revokes a key; the next request made with it is refused.
func (s *Service) RevokeAPIKey(ctx context.Context, accountID, keyID string) (domain.APIKey, error) {
	if _, err := caller(ctx, accountID, domain.Write(domain.AreaAPIKeys)); err != nil {
		return domain.APIKey{}, err
	}
	var out domain.APIKey
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		key, err := tx.RevokeAPIKey(ctx, keyID, s.now())
		out = key
		return err
	})
	return out, err
}
