package app

import (
	"context"
	"errors"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// CreateAPIKey creates a key and returns it with its secret, which is shown only now. The key
// may hold no more than the caller: its role's levels and the scope of the user it acts as
// (every organization for a key acting as no one). It is bound, at every use, by the user
// behind its creation (domain.APIKey.Owner).
func (s *Service) CreateAPIKey(ctx context.Context, accountID string, k domain.APIKey) (domain.APIKey, string, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaAPIKeys))
	if err != nil {
		return domain.APIKey{}, "", err
	}
	if err := domain.CheckNewAPIKey(k); err != nil {
		return domain.APIKey{}, "", err
	}
	var out domain.APIKey
	var secret string
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		role, err := roleToGrant(ctx, tx, k.RoleID, "api_key.role_id")
		if err != nil {
			return err
		}
		var user *domain.User
		if k.UserID != "" {
			u, err := tx.UserToGrant(ctx, k.UserID)
			if errors.Is(err, domain.ErrUserNotFound) {
				return apperr.Invalid("api_key.user_id", "is not a user of this account")
			}
			if err != nil {
				return err
			}
			user = &u
		}
		if err := grantOf(id).Covers(k.Grant(role.Levels, user)); err != nil {
			return err
		}
		callerUser, callerOwner, err := callerPeople(ctx, tx, id)
		if err != nil {
			return err
		}
		k.OwnerID = domain.CreatorBehind(callerUser, callerOwner)
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

// callerPeople returns the users behind the caller: a user itself; for a key, the user it acts
// as and its owner; none for an operator.
func callerPeople(ctx context.Context, tx *store.Tx, id identity.Identity) (user, owner string, err error) {
	switch id.Kind {
	case identity.KindAPIKey:
		return tx.KeyPeople(ctx, id.PrincipalID)
	case identity.KindUser:
		return id.UserID, "", nil
	}
	return "", "", nil
}

// ListAPIKeys lists the account's keys, newest first, a page at a time, and returns the token of
// the next page ("" on the last).
func (s *Service) ListAPIKeys(ctx context.Context, accountID string, pageSize int32, pageToken string) ([]domain.APIKey, string, error) {
	// The token is checked first, as ListUsers does: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[store.APIKeyPosition](ctx, s.pages, "api keys", pageSize, pageToken, accountID)
	if err != nil {
		return nil, "", err
	}
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaAPIKeys)); err != nil {
		return nil, "", err
	}
	var keys []domain.APIKey
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		keys, err = tx.APIKeys(ctx, continuing(page), page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, keys, func(k domain.APIKey) store.APIKeyPosition {
		return store.APIKeyPosition{Created: k.Created, ID: k.ID}
	})
}

// RevokeAPIKey revokes a key; the next request made with it is refused.
func (s *Service) RevokeAPIKey(ctx context.Context, accountID, keyID string) (domain.APIKey, error) {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaAPIKeys)); err != nil {
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
