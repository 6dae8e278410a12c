package registry

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// Organization types and statuses are account-defined lists of names.

func (s *Service) createListEntry(ctx context.Context, accountID, table, name, field string) (string, error) {
	if _, err := caller(ctx, accountID, write(AreaOrganizations)); err != nil {
		return "", err
	}
	if name == "" {
		return "", apperr.Invalid(field+".name", "is required")
	}
	var id string
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO `+table+` (account_id, name) VALUES ($1, $2) RETURNING id::text`, accountID, name).Scan(&id)
		if errors.Is(postgres.Translate(err), postgres.ErrConflict) {
			return apperr.Conflict("an entry with this name already exists")
		}
		return err
	})
	return id, err
}

func (s *Service) listEntries(ctx context.Context, accountID, table string) ([][2]string, error) {
	if _, err := caller(ctx, accountID, read(AreaOrganizations)); err != nil {
		return nil, err
	}
	var out [][2]string
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, name FROM `+table+` ORDER BY name`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
			var e [2]string
			return e, r.Scan(&e[0], &e[1])
		})
		return err
	})
	return out, err
}

// CreateOrganizationType adds a type to the account's list.
func (s *Service) CreateOrganizationType(ctx context.Context, accountID string, t *orgv1.OrganizationType) (*orgv1.OrganizationType, error) {
	id, err := s.createListEntry(ctx, accountID, "organization_types", t.GetName(), "organization_type")
	if err != nil {
		return nil, err
	}
	return &orgv1.OrganizationType{Id: id, Name: t.GetName()}, nil
}

// ListOrganizationTypes lists the account's types by name.
func (s *Service) ListOrganizationTypes(ctx context.Context, accountID string) ([]*orgv1.OrganizationType, error) {
	entries, err := s.listEntries(ctx, accountID, "organization_types")
	out := make([]*orgv1.OrganizationType, 0, len(entries))
	for _, e := range entries {
		out = append(out, &orgv1.OrganizationType{Id: e[0], Name: e[1]})
	}
	return out, err
}

// CreateOrganizationStatus adds a status to the account's list.
func (s *Service) CreateOrganizationStatus(ctx context.Context, accountID string, st *orgv1.OrganizationStatus) (*orgv1.OrganizationStatus, error) {
	id, err := s.createListEntry(ctx, accountID, "organization_statuses", st.GetName(), "organization_status")
	if err != nil {
		return nil, err
	}
	return &orgv1.OrganizationStatus{Id: id, Name: st.GetName()}, nil
}

// ListOrganizationStatuses lists the account's statuses by name.
func (s *Service) ListOrganizationStatuses(ctx context.Context, accountID string) ([]*orgv1.OrganizationStatus, error) {
	entries, err := s.listEntries(ctx, accountID, "organization_statuses")
	out := make([]*orgv1.OrganizationStatus, 0, len(entries))
	for _, e := range entries {
		out = append(out, &orgv1.OrganizationStatus{Id: e[0], Name: e[1]})
	}
	return out, err
}

func scanGroup(row pgx.Row) (*orgv1.Group, error) {
	g := &orgv1.Group{}
	return g, row.Scan(&g.Id, &g.Name, &g.Color, &g.Archived)
}

func groupErr(err error) error {
	if postgres.ConstraintName(err) == "groups_account_id_name_key" {
		return apperr.Conflict("a group with this name already exists")
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrGroupNotFound
	}
	return postgres.Translate(err)
}

// CreateGroup creates a custom group.
func (s *Service) CreateGroup(ctx context.Context, accountID string, g *orgv1.Group) (*orgv1.Group, error) {
	if _, err := caller(ctx, accountID, write(AreaGroups)); err != nil {
		return nil, err
	}
	if g.GetName() == "" {
		return nil, apperr.Invalid("group.name", "is required")
	}
	if g.GetColor() == "" {
		g.Color = "#607D8B"
	}
	var out *orgv1.Group
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		out, err = scanGroup(tx.QueryRow(ctx, `INSERT INTO groups (account_id, name, color, archived) VALUES ($1, $2, $3, $4)
			RETURNING id::text, name, color, archived`, accountID, g.GetName(), g.GetColor(), g.GetArchived()))
		return groupErr(err)
	})
	return out, err
}

// ListGroups lists groups by name.
func (s *Service) ListGroups(ctx context.Context, accountID string, archived bool) ([]*orgv1.Group, error) {
	if _, err := caller(ctx, accountID, read(AreaGroups)); err != nil {
		return nil, err
	}
	var out []*orgv1.Group
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, name, color, archived FROM groups WHERE $1 OR NOT archived ORDER BY name`, archived)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*orgv1.Group, error) { return scanGroup(r) })
		return err
	})
	return out, err
}

// UpdateGroup renames, recolors or (un)archives a group.
func (s *Service) UpdateGroup(ctx context.Context, req *orgv1.UpdateGroupRequest) (*orgv1.Group, error) {
	if _, err := caller(ctx, req.GetAccountId(), write(AreaGroups)); err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), "update_mask", "name", "color", "archived")
	if err != nil {
		return nil, err
	}
	g := req.GetGroup()
	var out *orgv1.Group
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		cur, err := scanGroup(tx.QueryRow(ctx, `SELECT id::text, name, color, archived FROM groups WHERE id = $1 FOR UPDATE`, g.GetId()))
		if err != nil {
			return groupErr(err)
		}
		for _, p := range paths {
			switch p {
			case "name":
				if g.GetName() == "" {
					return apperr.Invalid("group.name", "is required")
				}
				cur.Name = g.GetName()
			case "color":
				if g.GetColor() == "" {
					return apperr.Invalid("group.color", "is required")
				}
				cur.Color = g.GetColor()
			case "archived":
				cur.Archived = g.GetArchived()
			}
		}
		out, err = scanGroup(tx.QueryRow(ctx, `UPDATE groups SET name = $2, color = $3, archived = $4 WHERE id = $1
			RETURNING id::text, name, color, archived`, cur.GetId(), cur.GetName(), cur.GetColor(), cur.GetArchived()))
		return groupErr(err)
	})
	return out, err
}
