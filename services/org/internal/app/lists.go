package app

import (
	"context"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// CreateOrganizationType adds a type to the account's list.
func (s *Service) CreateOrganizationType(ctx context.Context, accountID, name string) (domain.Type, error) {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaOrganizations)); err != nil {
		return domain.Type{}, err
	}
	if err := domain.CheckName("organization_type", name); err != nil {
		return domain.Type{}, err
	}
	var id string
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		id, err = tx.InsertType(ctx, accountID, name)
		return err
	})
	if err != nil {
		return domain.Type{}, err
	}
	return domain.Type{ID: id, Name: name}, nil
}

// ListOrganizationTypes lists the account's types by name.
func (s *Service) ListOrganizationTypes(ctx context.Context, accountID string) ([]domain.Type, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaOrganizations)); err != nil {
		return nil, err
	}
	var out []domain.Type
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Types(ctx)
		return err
	})
	return out, err
}

// CreateOrganizationStatus adds a status to the account's list.
func (s *Service) CreateOrganizationStatus(ctx context.Context, accountID, name string) (domain.Status, error) {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaOrganizations)); err != nil {
		return domain.Status{}, err
	}
	if err := domain.CheckName("organization_status", name); err != nil {
		return domain.Status{}, err
	}
	var id string
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		id, err = tx.InsertStatus(ctx, accountID, name)
		return err
	})
	if err != nil {
		return domain.Status{}, err
	}
	return domain.Status{ID: id, Name: name}, nil
}

// ListOrganizationStatuses lists the account's statuses by name.
func (s *Service) ListOrganizationStatuses(ctx context.Context, accountID string) ([]domain.Status, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaOrganizations)); err != nil {
		return nil, err
	}
	var out []domain.Status
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Statuses(ctx)
		return err
	})
	return out, err
}

// CreateGroup creates a custom group.
func (s *Service) CreateGroup(ctx context.Context, accountID string, in domain.Group) (domain.Group, error) {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaGroups)); err != nil {
		return domain.Group{}, err
	}
	g, err := domain.NewGroup(in)
	if err != nil {
		return domain.Group{}, err
	}
	var out domain.Group
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.InsertGroup(ctx, accountID, g)
		return err
	})
	return out, err
}

// ListGroups lists groups by name, the archived ones too when archived.
func (s *Service) ListGroups(ctx context.Context, accountID string, archived bool) ([]domain.Group, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaGroups)); err != nil {
		return nil, err
	}
	var out []domain.Group
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Groups(ctx, archived)
		return err
	})
	return out, err
}

// UpdateGroup renames, recolors or (un)archives a group: the fields named by mask (an update
// mask, as received) take their values from in; in.ID names the group.
func (s *Service) UpdateGroup(ctx context.Context, accountID string, in domain.Group, mask []string) (domain.Group, error) {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaGroups)); err != nil {
		return domain.Group{}, err
	}
	paths, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: mask}, "update_mask", "name", "color", "archived")
	if err != nil {
		return domain.Group{}, err
	}
	var out domain.Group
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		cur, err := tx.LockGroup(ctx, in.ID)
		if err != nil {
			return err
		}
		next, err := cur.Apply(paths, in)
		if err != nil {
			return err
		}
		out, err = tx.UpdateGroup(ctx, next)
		return err
	})
	return out, err
}
