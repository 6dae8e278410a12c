package app

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/fieldmask"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// CreateUser adds a user (with the Engineer role unless it names one) and publishes
// user.created. The user may hold no more than the caller: its role's levels and its scope.
func (s *Service) CreateUser(ctx context.Context, accountID string, u domain.NewUser) (domain.User, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaUsers))
	if err != nil {
		return domain.User{}, err
	}
	if err := u.Check("user"); err != nil {
		return domain.User{}, err
	}
	var out domain.User
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		nu := u
		if nu.RoleID == "" {
			engineer, err := tx.BuiltinRoleID(ctx, domain.RoleEngineer)
			if err != nil {
				return err
			}
			nu.RoleID = engineer
		}
		role, err := roleToGrant(ctx, tx, nu.RoleID, "user.role_id")
		if err != nil {
			return err
		}
		if err := grantOf(id).Covers(nu.Grant(role.Levels)); err != nil {
			return err
		}
		user, err := s.insertUser(ctx, tx, accountID, nu, "user")
		out = user
		return err
	})
	return out, err
}

// insertUser adds u, whose grant the caller has checked, and publishes user.created; field
// names u in errors. Every way a user comes to be (CreateUser, single sign-on's first sign-in)
// goes through it, so other services hear of each one.
func (s *Service) insertUser(ctx context.Context, tx *store.Tx, accountID string, u domain.NewUser, field string) (domain.User, error) {
	user, err := tx.InsertUser(ctx, accountID, u, field)
	if err != nil {
		return domain.User{}, err
	}
	admin, err := isAdmin(ctx, tx, user)
	if err != nil {
		return domain.User{}, err
	}
	if err := tx.Enqueue(ctx, &orgv1.UserCreated{AccountId: accountID, User: pbconv.User(user), Administrator: admin}, s.now()); err != nil {
		return domain.User{}, err
	}
	return user, nil
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

// ListUsers lists users by last name, first name and id, only those whose first name, last
// name or email contains query regardless of case ("" for all), a page at a time, and returns
// the token of the next page ("" on the last).
func (s *Service) ListUsers(ctx context.Context, accountID, query string, pageSize int32, pageToken string) ([]domain.User, string, error) {
	// The token is checked first, as before the split: a forged token is a 400 for anyone. It
	// is bound to the query: a position in one search's results means nothing in another's.
	page, err := pagetoken.Open[string](ctx, s.pages, "users", pageSize, pageToken, accountID, query)
	if err != nil {
		return nil, "", err
	}
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaUsers)); err != nil {
		return nil, "", err
	}
	var users []domain.User
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		list, err := tx.Users(ctx, query, page.After, page.Size+1)
		users = list
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, users, func(u domain.User) string { return u.ID })
}

// UpdateUser changes the fields of user c.ID named in mask (as the caller wrote them; "*" is
// all) and publishes user.updated. A new email address closes the user's pending invitation
// and password reset links in the same transaction. A change of the user's role, scope or activity is checked
// against what the caller holds (domain.UserChange.CheckGrant): nobody changes their own role
// or scope, or hands out or takes away more than they hold.
func (s *Service) UpdateUser(ctx context.Context, accountID string, c domain.UserChange, mask []string) (domain.User, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaUsers))
	if err != nil {
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
		cur, err := tx.UserForUpdate(ctx, c.ID)
		if err != nil {
			return err
		}
		if domain.TouchesGrant(paths) {
			if err := checkUserGrant(ctx, tx, id, c, cur, paths); err != nil {
				return err
			}
		}
		if err := tx.UpdateUser(ctx, accountID, c, paths); err != nil {
			return err
		}
		if c.MovesMailbox(cur, paths) {
			// An invitation or reset mailed to the old address would let whoever reads it set
			// the user's password. The notification service drops a closed link's email.
			if _, err := tx.ClosePendingLinks(ctx, c.ID, s.now()); err != nil {
				return err
			}
		}
		user, err := tx.User(ctx, c.ID)
		if err != nil {
			return err
		}
		admin, err := isAdmin(ctx, tx, user)
		if err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, &orgv1.UserUpdated{AccountId: accountID, User: pbconv.User(user), Administrator: admin}, s.now()); err != nil {
			return err
		}
		out = user
		return nil
	})
	return out, err
}

// checkUserGrant loads what domain.UserChange.CheckGrant needs to decide on a change of user
// cur's rights: the caller's grant, whether cur is the caller, and cur's role before and after.
func checkUserGrant(ctx context.Context, tx *store.Tx, id identity.Identity, c domain.UserChange, cur domain.User, paths []string) error {
	before, err := roleToGrant(ctx, tx, cur.RoleID, "user.role_id")
	if err != nil {
		return err
	}
	after := before
	if slices.Contains(paths, "role_id") {
		if after, err = roleToGrant(ctx, tx, c.RoleID, "user.role_id"); err != nil {
			return err
		}
	}
	// A key's owner is as much behind it as the user it acts as: neither may be reshaped by it.
	user, owner, err := callerPeople(ctx, tx, id)
	if err != nil {
		return err
	}
	self := cur.ID == user || cur.ID == owner
	return c.CheckGrant(grantOf(id), self, cur, before.Levels, after.Levels, paths)
}

// roleToGrant reads a role about to be handed out; one that is not the account's is an invalid
// field of the request.
func roleToGrant(ctx context.Context, tx *store.Tx, roleID, field string) (domain.Role, error) {
	r, err := tx.RoleToGrant(ctx, roleID)
	if errors.Is(err, domain.ErrRoleNotFound) {
		return domain.Role{}, apperr.Invalid(field, "is not a role of this account")
	}
	return r, err
}

// isAdmin reports whether u holds the built-in IT Provider Admin role, for the events that tell
// other services who the account's administrators are.
func isAdmin(ctx context.Context, tx *store.Tx, u domain.User) (bool, error) {
	admin, err := tx.BuiltinRoleID(ctx, domain.RoleITProviderAdmin)
	return err == nil && admin == u.RoleID, err
}
