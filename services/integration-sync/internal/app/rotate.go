package app

import (
	"context"
	"fmt"

	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// Rotate reseals every credential not sealed with the newest key, account by account, and
// returns how many it resealed. It is safe to run while the service runs, and again.
func (s *Service) Rotate(ctx context.Context) (int, error) {
	var accounts []string
	if err := s.store.InSystem(ctx, func(tx *store.Tx) error {
		var err error
		accounts, err = tx.Accounts(ctx)
		return err
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range accounts {
		err := s.store.InTenant(ctx, a, func(tx *store.Tx) error {
			rows, err := tx.CredentialsNotSealedWith(ctx, s.keys.Newest(), 100000)
			if err != nil {
				return err
			}
			for _, r := range rows {
				aad := credentialAAD(r.AccountID, r.IntegrationID, r.Name)
				resealed, err := s.keys.Reseal(r.Sealed, aad)
				if err != nil {
					return fmt.Errorf("reseal credential %s of integration %s: %w", r.Name, r.IntegrationID, err)
				}
				ok, err := tx.Reseal(ctx, r.IntegrationID, r.Name, r.KeyID, resealed, s.keys.KeyID(resealed))
				if err != nil {
					return err
				}
				if ok {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
