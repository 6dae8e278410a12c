package app

import (
	"context"
	"strconv"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	"github.com/orgplane/orgplane/pkg/pagetoken"
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

// ListOrganizationTypes lists the account's types by name, a page at a time, and returns the
// token of the next page ("" on the last).
func (s *Service) ListOrganizationTypes(ctx context.Context, accountID string, pageSize int32, pageToken string) ([]domain.Type, string, error) {
	// The token is checked first, as ListUsers does: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[store.NamePosition](ctx, s.pages, "organization types", pageSize, pageToken, accountID)
	if err != nil {
		return nil, "", err
	}
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaOrganizations)); err != nil {
		return nil, "", err
	}
	var out []domain.Type
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Types(ctx, continuing(page), page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, out, func(e domain.Type) store.NamePosition { return store.NamePosition{Name: e.Name, ID: e.ID} })
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

// ListOrganizationStatuses lists the account's statuses by name, a page at a time, and returns the
// token of the next page ("" on the last).
func (s *Service) ListOrganizationStatuses(ctx context.Context, accountID string, pageSize int32, pageToken string) ([]domain.Status, string, error) {
	// The token is checked first, as ListUsers does: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[store.NamePosition](ctx, s.pages, "organization statuses", pageSize, pageToken, accountID)
	if err != nil {
		return nil, "", err
	}
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaOrganizations)); err != nil {
		return nil, "", err
	}
	var out []domain.Status
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Statuses(ctx, continuing(page), page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, out, func(e domain.Status) store.NamePosition { return store.NamePosition{Name: e.Name, ID: e.ID} })
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

// ListGroups lists groups by name, the archived ones too when archived, a page at a time, and
// returns the token of the next page ("" on the last).
func (s *Service) ListGroups(ctx context.Context, accountID string, archived bool, pageSize int32, pageToken string) ([]domain.Group, string, error) {
	// The token is checked first, as ListUsers does: a forged token is a 400 for anyone. Whether
	// archived groups are listed is part of the query: a position among all groups means
	// nothing among the live ones.
	page, err := pagetoken.Open[store.NamePosition](ctx, s.pages, "groups", pageSize, pageToken, accountID,
		"include_archived="+strconv.FormatBool(archived))
	if err != nil {
		return nil, "", err
	}
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaGroups)); err != nil {
		return nil, "", err
	}
	var out []domain.Group
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Groups(ctx, archived, continuing(page), page.Size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, out, func(g domain.Group) store.NamePosition { return store.NamePosition{Name: g.Name, ID: g.ID} })
}

// continuing is the position a page continues after, nil for a first page: the stores take a
// pointer so that no zero position can be mistaken for a real one.
func continuing[C any](p pagetoken.Page[C]) *C {
	if !p.Continues {
		return nil
	}
	return &p.After
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
