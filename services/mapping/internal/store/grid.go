package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/postgres"

	"github.com/orgplane/orgplane/services/mapping/internal/domain"
)

// visible keeps only organizations the caller may see (org's rule: a caller restricted to groups
// sees the organizations in at least one of them); r and g are the placeholders of "restricted"
// and the groups.
func visible(r, g string) string { return `(` + r + ` = false OR o.group_ids && ` + g + `::uuid[])` }

// GridQuery selects the grid's rows.
type GridQuery struct {
	Restricted bool
	Groups     []string
	Query      string
	Filter     domain.GridFilter
	// IntegrationID narrows the filter to one integration ("" any).
	IntegrationID string
	// AfterName, AfterID: the keyset position of the previous page's last row.
	AfterName, AfterID string
	Limit              int
}

func (q GridQuery) where() (string, []any) {
	args := []any{q.Restricted, q.Groups, postgres.EscapeLike(strings.TrimSpace(q.Query))}
	w := visible("$1", "$2") + ` AND ($3 = '' OR o.name ILIKE '%' || $3 || '%')`
	if q.Filter == domain.FilterAll {
		return w, args
	}
	args = append(args, q.IntegrationID)
	inX := `($4 = '' OR l.integration_id::text = $4)`
	switch q.Filter {
	case domain.FilterUnmapped:
		w += ` AND EXISTS (SELECT 1 FROM integrations i WHERE ($4 = '' OR i.id::text = $4)
			AND NOT EXISTS (SELECT 1 FROM links l WHERE l.organization_id = o.id AND l.integration_id = i.id))`
	case domain.FilterMapped:
		w += ` AND EXISTS (SELECT 1 FROM links l WHERE l.organization_id = o.id AND ` + inX + `)`
	case domain.FilterOrphaned:
		w += ` AND EXISTS (SELECT 1 FROM links l JOIN external_organizations e
			ON e.integration_id = l.integration_id AND e.external_id = l.external_organization_id
			WHERE l.organization_id = o.id AND e.state = 2 AND ` + inX + `)`
	}
	return w, args
}

// Grid returns a page of rows (without cells) and how many match.
func (t *Tx) Grid(ctx context.Context, q GridQuery) ([]domain.Row, int64, error) {
	w, args := q.where()
	var total int64
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM organizations o WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count grid rows: %w", err)
	}
	n := len(args)
	args = append(args, q.AfterName, q.AfterID, q.Limit)
	rows, err := t.tx.Query(ctx, fmt.Sprintf(`SELECT o.id::text, o.name, coalesce(o.parent_id::text, ''), o.active, o.version
		FROM organizations o WHERE %s AND (lower(o.name), o.id::text) > ($%d, $%d)
		ORDER BY lower(o.name), o.id::text LIMIT $%d`, w, n+1, n+2, n+3), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read grid rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Row, error) {
		var row domain.Row
		err := r.Scan(&row.OrganizationID, &row.Name, &row.ParentID, &row.Active, &row.Version)
		return row, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read grid rows: %w", err)
	}
	return out, total, nil
}

// Cells returns the links of the given organizations with their external organizations' states,
// by organization.
func (t *Tx) Cells(ctx context.Context, organizationIDs []string) (map[string][]domain.Cell, error) {
	rows, err := t.tx.Query(ctx, `SELECT l.organization_id::text, l.integration_id::text, l.external_organization_id,
			coalesce(e.name, l.external_name), coalesce(e.state, 0), l.method
		FROM unnest($1::uuid[]) AS want(id) JOIN links l ON l.organization_id = want.id
		LEFT JOIN external_organizations e ON e.integration_id = l.integration_id AND e.external_id = l.external_organization_id
		ORDER BY l.organization_id, l.integration_id`, organizationIDs)
	if err != nil {
		return nil, fmt.Errorf("read grid cells: %w", err)
	}
	out := map[string][]domain.Cell{}
	defer rows.Close()
	for rows.Next() {
		var org string
		var c domain.Cell
		if err := rows.Scan(&org, &c.IntegrationID, &c.ExternalID, &c.ExternalName, &c.State, &c.Method); err != nil {
			return nil, fmt.Errorf("read grid cells: %w", err)
		}
		out[org] = append(out[org], c)
	}
	return out, rows.Err()
}

// ErrRowNotFound: no such organization (or one the caller may not see).
var ErrRowNotFound = errors.New("organization not found")

// LockRows locks the organizations of a batch (in id order, so two batches never deadlock) and
// returns their versions; ids the caller may not see are absent.
func (t *Tx) LockRows(ctx context.Context, restricted bool, groups, ids []string) (map[string]int64, error) {
	rows, err := t.tx.Query(ctx, `SELECT o.id::text, o.version FROM organizations o
		WHERE o.id = ANY($1::uuid[]) AND `+visible("$2", "$3")+` ORDER BY o.id FOR UPDATE`, ids, restricted, groups)
	if err != nil {
		return nil, fmt.Errorf("lock grid rows: %w", err)
	}
	out := map[string]int64{}
	defer rows.Close()
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[id] = v
	}
	return out, rows.Err()
}

// BumpVersions adds one to the given rows' versions.
func (t *Tx) BumpVersions(ctx context.Context, ids []string) error {
	if _, err := t.tx.Exec(ctx, `UPDATE organizations SET version = version + 1 WHERE id = ANY($1::uuid[])`, ids); err != nil {
		return fmt.Errorf("bump grid row versions: %w", err)
	}
	return nil
}

// External reads one external organization of an integration, false when unknown.
func (t *Tx) External(ctx context.Context, integrationID, externalID string) (ExternalCopy, bool, error) {
	e := ExternalCopy{IntegrationID: integrationID, ExternalID: externalID}
	err := t.tx.QueryRow(ctx, `SELECT name, parent_id, state, deleted FROM external_organizations
		WHERE integration_id = $1 AND external_id = $2`, integrationID, externalID).Scan(&e.Name, &e.ParentID, &e.State, &e.Deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("read external organization: %w", err)
	}
	return e, true, nil
}

// LinkOf returns the organization's link in an integration, false when none.
func (t *Tx) LinkOf(ctx context.Context, organizationID, integrationID string) (domain.Link, bool, error) {
	return t.oneLink(ctx, `organization_id = $1 AND integration_id = $2`, organizationID, integrationID)
}

// LinkOfExternal returns the link of an external organization, false when none.
func (t *Tx) LinkOfExternal(ctx context.Context, integrationID, externalID string) (domain.Link, bool, error) {
	return t.oneLink(ctx, `integration_id = $1 AND external_organization_id = $2`, integrationID, externalID)
}

// oneLink reads the link a unique condition selects.
func (t *Tx) oneLink(ctx context.Context, where string, args ...any) (domain.Link, bool, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+linkColumns+` FROM links WHERE `+where, args...)
	if err != nil {
		return domain.Link{}, false, fmt.Errorf("read link: %w", err)
	}
	list, err := pgx.CollectRows(rows, scanLink)
	if err != nil || len(list) == 0 {
		return domain.Link{}, false, err
	}
	return list[0], true, nil
}

// DeleteLink removes a link by id.
func (t *Tx) DeleteLink(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM links WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete link: %w", err)
	}
	return nil
}

// IntegrationLinks removes and returns every link of an integration.
func (t *Tx) DeleteIntegrationLinks(ctx context.Context, integrationID string) ([]domain.Link, error) {
	rows, err := t.tx.Query(ctx, `DELETE FROM links WHERE integration_id = $1 RETURNING `+linkColumns, integrationID)
	if err != nil {
		return nil, fmt.Errorf("delete integration links: %w", err)
	}
	return pgx.CollectRows(rows, scanLink)
}

// Rows reads the given rows (without cells), by name.
func (t *Tx) Rows(ctx context.Context, ids []string) ([]domain.Row, error) {
	rows, err := t.tx.Query(ctx, `SELECT o.id::text, o.name, coalesce(o.parent_id::text, ''), o.active, o.version
		FROM organizations o WHERE o.id = ANY($1::uuid[]) ORDER BY lower(o.name), o.id::text`, ids)
	if err != nil {
		return nil, fmt.Errorf("read grid rows: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Row, error) {
		var row domain.Row
		err := r.Scan(&row.OrganizationID, &row.Name, &row.ParentID, &row.Active, &row.Version)
		return row, err
	})
}

// UnmappedNames returns the organizations the caller may see without a link in the integration
// (only ids, when given), with their names, by name; and from, the index of the first that comes
// after the organization named afterName with id afterID (afterID "": 0) in that order. All are
// returned because matching weighs words by how common they are among them all.
func (t *Tx) UnmappedNames(ctx context.Context, restricted bool, groups []string, integrationID string, ids []string,
	afterName, afterID string) (orgs []domain.Named, from int, err error) {
	var after any // NULL: from the first
	if afterID != "" {
		after = afterID
	}
	rows, err := t.tx.Query(ctx, `SELECT o.id::text, o.name,
			$5::uuid IS NULL OR (lower(o.name), o.id) > (lower($6::text), $5::uuid)
		FROM organizations o
		WHERE `+visible("$1", "$2")+` AND (coalesce(cardinality($4::uuid[]), 0) = 0 OR o.id = ANY($4::uuid[]))
		AND NOT EXISTS (SELECT 1 FROM links l WHERE l.organization_id = o.id AND l.integration_id = $3)
		ORDER BY lower(o.name), o.id`, restricted, groups, integrationID, ids, after, afterName)
	if err != nil {
		return nil, 0, fmt.Errorf("read unmapped organizations: %w", err)
	}
	from = -1
	read := 0
	orgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Named, error) {
		var n domain.Named
		var past bool
		err := r.Scan(&n.ID, &n.Name, &past)
		if past && from < 0 {
			from = read
		}
		read++
		return n, err
	})
	if from < 0 { // none comes after: the previous page was the last
		from = len(orgs)
	}
	return orgs, from, err
}

// UnlinkedExternals returns an integration's external organizations that are linked to none and
// not deleted or orphaned.
func (t *Tx) UnlinkedExternals(ctx context.Context, integrationID string) ([]domain.Named, error) {
	rows, err := t.tx.Query(ctx, `SELECT e.external_id, e.name FROM external_organizations e
		WHERE e.integration_id = $1 AND NOT e.deleted AND e.state <> 2
		AND NOT EXISTS (SELECT 1 FROM links l WHERE l.integration_id = e.integration_id AND l.external_organization_id = e.external_id)`, integrationID)
	if err != nil {
		return nil, fmt.Errorf("read unlinked external organizations: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[domain.Named])
}
