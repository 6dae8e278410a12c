package app

import (
	"context"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// grantOf is what the caller holds, as its identity says: the permissions and visibility of its
// role (for a key, already narrowed to what its user and owner hold; see domain.KeyGrant).
// Platform operators are bound by nothing.
func grantOf(id identity.Identity) domain.Grant {
	if id.Operator() {
		return domain.FullGrant()
	}
	restricted, groups := id.Visibility()
	return domain.GrantOf(id.Permissions, restricted, groups)
}

// CreateRole creates a custom role, holding no more than the caller does.
func (s *Service) CreateRole(ctx context.Context, accountID string, r domain.Role) (domain.Role, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaRoles))
	if err != nil {
		return domain.Role{}, err
	}
	if err := domain.CheckNewRole(r); err != nil {
		return domain.Role{}, err
	}
	if err := grantOf(id).Covers(domain.Grant{Levels: r.Levels}); err != nil {
		return domain.Role{}, err
	}
	var out domain.Role
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		role, err := tx.InsertRole(ctx, accountID, r)
		out = role
		return err
	})
	return out, err
}

// ListRoles lists the account's roles, built-in first, a page at a time, and returns the token
// of the next page ("" on the last).
func (s *Service) ListRoles(ctx context.Context, accountID string, pageSize int32, pageToken string) ([]domain.Role, string, error) {
	// The token is checked first, as ListUsers does: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[store.RolePosition](ctx, s.pages, "roles", pageSize, pageToken, accountID)
	if err != nil {
		return nil, "", err
	}
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaRoles)); err != nil {
		return nil, "", err
	}
	var roles []domain.Role
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		roles, err = tx.Roles(ctx, continuing(page), page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, roles, func(r domain.Role) store.RolePosition {
		return store.RolePosition{Builtin: r.Builtin, Name: r.Name, ID: r.ID}
	})
}

// UpdateRole changes the name or permissions of custom role r.ID, as named in mask (as the
// caller wrote it; "*" is all). The caller must hold everything the role holds, before and
// after: the caller's own role included, so no one raises the role they act with.
func (s *Service) UpdateRole(ctx context.Context, accountID string, r domain.Role, mask []string) (domain.Role, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaRoles))
	if err != nil {
		return domain.Role{}, err
	}
	paths, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: mask}, "update_mask", domain.RoleFields()...)
	if err != nil {
		return domain.Role{}, err
	}
	var out domain.Role
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cur, err := tx.RoleForUpdate(ctx, r.ID)
		if err != nil {
			return err
		}
		next, err := cur.Update(r, paths)
		if err != nil {
			return err
		}
		held := grantOf(id)
		if err := held.CoversHolder("role", domain.Grant{Levels: cur.Levels}); err != nil {
			return err
		}
		if err := held.Covers(domain.Grant{Levels: next.Levels}); err != nil {
			return err
		}
		role, err := tx.UpdateRole(ctx, next)
		out = role
		return err
	})
	return out, err
}

// DeleteRole deletes custom role roleID once nothing holds it: no user (deactivated and invited
// ones included), no valid API key, not single sign-on's default role. Like UpdateRole it takes
// a caller holding everything the role holds. The role stays locked from the count to the
// delete, and handing a role out reads it FOR SHARE (RoleToGrant), so a user or key given the
// role meanwhile either gets it first, and is counted, or finds it gone.
func (s *Service) DeleteRole(ctx context.Context, accountID, roleID string) error {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaRoles))
	if err != nil {
		return err
	}
	return s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cur, err := tx.RoleForUpdate(ctx, roleID)
		if err != nil {
			return err
		}
		if err := cur.CheckDeletable(); err != nil {
			return err
		}
		if err := grantOf(id).CoversHolder("role", domain.Grant{Levels: cur.Levels}); err != nil {
			return err
		}
		holders, err := tx.RoleHolders(ctx, cur.ID)
		if err != nil {
			return err
		}
		if err := holders.CheckUnheld(cur.Name); err != nil {
			return err
		}
		return tx.DeleteRole(ctx, cur.ID)
	})
}
