package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/mapping/internal/domain"
)

const linkColumns = `id::text, account_id::text, organization_id::text, integration_id::text,
	external_organization_id, external_name, method, created_by, created_at`

func scanLink(row pgx.CollectableRow) (domain.Link, error) {
	var l domain.Link
	err := row.Scan(&l.ID, &l.AccountID, &l.OrganizationID, &l.IntegrationID, &l.ExternalOrganizationID,
		&l.ExternalName, &l.Method, &l.CreatedBy, &l.Created)
	return l, err
}

// OrganizationLinks returns up to limit of an organization's links, by integration, after the
// link to afterIntegration ("" for the first).
func (t *Tx) OrganizationLinks(ctx context.Context, organizationID, afterIntegration string, limit int) ([]domain.Link, error) {
	q := `SELECT ` + linkColumns + ` FROM links WHERE organization_id = $1`
	args := []any{organizationID, limit}
	if afterIntegration != "" {
		q += ` AND integration_id > $3::uuid`
		args = append(args, afterIntegration)
	}
	rows, err := t.tx.Query(ctx, q+` ORDER BY integration_id LIMIT $2`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanLink)
}

// InsertLink stores l (tests and, later, the grid's batch save and imports).
func (t *Tx) InsertLink(ctx context.Context, l domain.Link) (string, error) {
	var id string
	err := t.tx.QueryRow(ctx, `INSERT INTO links (account_id, organization_id, integration_id, external_organization_id,
			external_name, method, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
		l.AccountID, l.OrganizationID, l.IntegrationID, l.ExternalOrganizationID, l.ExternalName, l.Method, l.CreatedBy, l.Created).Scan(&id)
	return id, err
}

// DeleteOrganizationLinks removes and returns every link of an organization.
func (t *Tx) DeleteOrganizationLinks(ctx context.Context, organizationID string) ([]domain.Link, error) {
	rows, err := t.tx.Query(ctx, `DELETE FROM links WHERE organization_id = $1 RETURNING `+linkColumns, organizationID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanLink)
}

// DeleteExternalLink removes and returns the link of an external organization, false when none.
func (t *Tx) DeleteExternalLink(ctx context.Context, integrationID, externalID string) (domain.Link, bool, error) {
	rows, err := t.tx.Query(ctx, `DELETE FROM links WHERE integration_id = $1 AND external_organization_id = $2 RETURNING `+linkColumns,
		integrationID, externalID)
	if err != nil {
		return domain.Link{}, false, fmt.Errorf("delete link: %w", err)
	}
	list, err := pgx.CollectRows(rows, scanLink)
	if err != nil || len(list) == 0 {
		return domain.Link{}, false, err
	}
	return list[0], true, nil
}
