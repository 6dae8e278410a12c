package app

import (
	"context"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	"github.com/orgplane/orgplane/pkg/identity"
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

// ListRoles lists the account's roles, built-in first.
func (s *Service) ListRoles(ctx context.Context, accountID string) ([]domain.Role, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaRoles)); err != nil {
		return nil, err
	}
	var out []domain.Role
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		roles, err := tx.Roles(ctx)
		out = roles
		return err
	})
	return out, err
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
