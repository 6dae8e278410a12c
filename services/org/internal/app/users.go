package app

import (
	"context"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// CreateUser adds a user (with the Engineer role unless it names one) and publishes
// user.created.
func (s *Service) CreateUser(ctx context.Context, accountID string, u domain.NewUser) (domain.User, error) {
	if _, err := caller(ctx, accountID, domain.Write(domain.AreaUsers)); err != nil {
		return domain.User{}, err
	}
	if err := u.Check("user"); err != nil {
		return domain.User{}, err
	}
	var out domain.User
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		nu := u
		if nu.RoleID == "" {
			id, err := tx.BuiltinRoleID(ctx, domain.RoleEngineer)
			if err != nil {
				return err
			}
			nu.RoleID = id
		}
		user, err := tx.InsertUser(ctx, accountID, nu, "user")
		if err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, &orgv1.UserCreated{AccountId: accountID, User: pbconv.User(user)}, s.now()); err != nil {
			return err
		}
		out = user
		return nil
	})
	return out, err
}

// User returns a user.
func (s *Service) User(ctx context.Context, accountID, userID string) (domain.User, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaUsers)); err != nil {
		return domain.User{}, err
	}
	var out domain.User
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		u, err := tx.User(ctx, userID)
		out = u
		return err
	})
	return out, err
}

// ListUsers lists users by last name, first name and id, a page at a time, and returns the
// token of the next page ("" on the last).
func (s *Service) ListUsers(ctx context.Context, accountID string, pageSize int32, pageToken string) ([]domain.User, string, error) {
	// The token is checked first, as before the split: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[string](s.pages, "users", pageSize, pageToken, "")
	if err != nil {
		return nil, "", err
	}
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaUsers)); err != nil {
		return nil, "", err
	}
	var users []domain.User
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		list, err := tx.Users(ctx, page.After, page.Size+1)
		users = list
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, users, func(u domain.User) string { return u.ID })
}

// UpdateUser changes the fields of user c.ID named in mask (as the caller wrote them; "*" is
// all) and publishes user.updated.
func (s *Service) UpdateUser(ctx context.Context, accountID string, c domain.UserChange, mask []string) (domain.User, error) {
	if _, err := caller(ctx, accountID, domain.Write(domain.AreaUsers)); err != nil {
		return domain.User{}, err
	}
	paths, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: mask}, "update_mask", domain.UserFields()...)
	if err != nil {
		return domain.User{}, err
	}
	if err := c.Check(paths); err != nil {
		return domain.User{}, err
	}
	var out domain.User
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if _, err := tx.User(ctx, c.ID); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, accountID, c, paths); err != nil {
			return err
		}
		user, err := tx.User(ctx, c.ID)
		if err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, &orgv1.UserUpdated{AccountId: accountID, User: pbconv.User(user)}, s.now()); err != nil {
			return err
		}
		out = user
		return nil
	})
	return out, err
}
