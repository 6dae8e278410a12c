package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Organization types and statuses are account-defined lists of names, one table each with the
// same shape.
const (
	typesTable    = "organization_types"
	statusesTable = "organization_statuses"
)

func (t *Tx) insertListEntry(ctx context.Context, table, accountID, name string) (string, error) {
	var id string
	err := t.tx.QueryRow(ctx, `INSERT INTO `+table+` (account_id, name) VALUES ($1, $2) RETURNING id::text`, accountID, name).Scan(&id)
	if errors.Is(postgres.Translate(err), postgres.ErrConflict) {
		return "", domain.ErrDuplicateListEntry.Wrap(err)
	}
	return id, err
}

// NamePosition is an item's place in a list by name, then id (names of groups, types and
// statuses are unique, but only within an account, and the order must be total).
type NamePosition struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

// afterName is the keyset condition of a page of a list by name then id: nothing before the first
// page, and only when the page continues does the query carry a comparison, so the plain first
// page keeps its plain plan. args are the query's arguments so far; the condition's come after.
func afterName(after *NamePosition, args []any) (string, []any) {
	if after == nil {
		return "true", args
	}
	n := len(args)
	return fmt.Sprintf("(name, id) > ($%d, $%d::uuid)", n+1, n+2), append(args, after.Name, after.ID)
}

// listEntries reads up to limit entries of table by name then id, after the position after (nil:
// from the start).
func (t *Tx) listEntries(ctx context.Context, table string, after *NamePosition, limit int) ([][2]string, error) {
	cond, args := afterName(after, []any{limit})
	rows, err := t.tx.Query(ctx, `SELECT id::text, name FROM `+table+` WHERE `+cond+` ORDER BY name, id LIMIT $1`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var e [2]string
		return e, r.Scan(&e[0], &e[1])
	})
}

// InsertType adds a type named name to the account's list and returns its id.
func (t *Tx) InsertType(ctx context.Context, accountID, name string) (string, error) {
	return t.insertListEntry(ctx, typesTable, accountID, name)
}

// Types reads up to limit of the account's organization types by name then id, after the
// position after (nil: from the start).
func (t *Tx) Types(ctx context.Context, after *NamePosition, limit int) ([]domain.Type, error) {
	entries, err := t.listEntries(ctx, typesTable, after, limit)
	out := make([]domain.Type, 0, len(entries))
	for _, e := range entries {
		out = append(out, domain.Type{ID: e[0], Name: e[1]})
	}
	return out, err
}

// InsertStatus adds a status named name to the account's list and returns its id.
func (t *Tx) InsertStatus(ctx context.Context, accountID, name string) (string, error) {
	return t.insertListEntry(ctx, statusesTable, accountID, name)
}

// Statuses reads up to limit of the account's organization statuses by name then id, after the
// position after (nil: from the start).
func (t *Tx) Statuses(ctx context.Context, after *NamePosition, limit int) ([]domain.Status, error) {
	entries, err := t.listEntries(ctx, statusesTable, after, limit)
	out := make([]domain.Status, 0, len(entries))
	for _, e := range entries {
		out = append(out, domain.Status{ID: e[0], Name: e[1]})
	}
	return out, err
}

func scanGroup(row pgx.Row) (domain.Group, error) {
	var g domain.Group
	err := row.Scan(&g.ID, &g.Name, &g.Color, &g.Archived)
	return g, err
}

func groupErr(err error) error {
	if postgres.ConstraintName(err) == "groups_account_id_name_key" {
		return domain.ErrDuplicateGroupName.Wrap(err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.ErrGroupNotFound
	}
	return postgres.Translate(err)
}

// InsertGroup creates a group and returns it as stored.
func (t *Tx) InsertGroup(ctx context.Context, accountID string, g domain.Group) (domain.Group, error) {
	out, err := scanGroup(t.tx.QueryRow(ctx, `INSERT INTO groups (account_id, name, color, archived) VALUES ($1, $2, $3, $4)
			RETURNING id::text, name, color, archived`, accountID, g.Name, g.Color, g.Archived))
	if err != nil {
		return domain.Group{}, groupErr(err)
	}
	return out, nil
}

// Groups reads up to limit groups by name then id, the archived ones too when archived, after
// the position after (nil: from the start).
func (t *Tx) Groups(ctx context.Context, archived bool, after *NamePosition, limit int) ([]domain.Group, error) {
	cond, args := afterName(after, []any{archived, limit})
	rows, err := t.tx.Query(ctx, `SELECT id::text, name, color, archived FROM groups
			WHERE ($1 OR NOT archived) AND `+cond+` ORDER BY name, id LIMIT $2`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Group, error) { return scanGroup(r) })
}

// LockGroup reads a group and locks it for a change.
func (t *Tx) LockGroup(ctx context.Context, groupID string) (domain.Group, error) {
	g, err := scanGroup(t.tx.QueryRow(ctx, `SELECT id::text, name, color, archived FROM groups WHERE id = $1 FOR UPDATE`, groupID))
	if err != nil {
		return domain.Group{}, groupErr(err)
	}
	return g, nil
}

// UpdateGroup writes g over the group of its id and returns it as stored.
func (t *Tx) UpdateGroup(ctx context.Context, g domain.Group) (domain.Group, error) {
	out, err := scanGroup(t.tx.QueryRow(ctx, `UPDATE groups SET name = $2, color = $3, archived = $4 WHERE id = $1
			RETURNING id::text, name, color, archived`, g.ID, g.Name, g.Color, g.Archived))
	if err != nil {
		return domain.Group{}, groupErr(err)
	}
	return out, nil
}
