package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/postgres"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

const externalColumns = `e.account_id::text, e.integration_id::text, i.kind, e.external_id, e.name, e.type_id, e.type_name,
	e.status_id, e.status_name, e.parent_id, e.active, e.deleted, coalesce(e.vendor_updated_at, 'epoch'), e.last_seen_at,
	e.state, e.state_reason, e.state_at, e.state_by, coalesce(e.organization_id::text, ''), e.created_by_sync, e.base,
	coalesce(e.last_sync_at, 'epoch'), e.last_sync_result, coalesce(e.dismissed_at, 'epoch')`

func scanExternal(r pgx.Row) (domain.ExternalOrganization, error) {
	var e domain.ExternalOrganization
	err := r.Scan(&e.AccountID, &e.IntegrationID, &e.IntegrationKind, &e.ExternalID, &e.Name, &e.TypeID, &e.TypeName,
		&e.StatusID, &e.StatusName, &e.ParentID, &e.Active, &e.Deleted, &e.VendorUpdated, &e.LastSeen,
		&e.State, &e.StateReason, &e.StateAt, &e.StateBy, &e.OrganizationID, &e.CreatedBySync, &e.Base,
		&e.LastSync, &e.LastSyncResult, &e.Dismissed)
	for _, t := range []*time.Time{&e.VendorUpdated, &e.LastSync, &e.Dismissed} {
		if t.Unix() == 0 {
			*t = time.Time{}
		}
	}
	return e, err
}

func collectExternals(rows pgx.Rows, err error) ([]domain.ExternalOrganization, error) {
	if err != nil {
		return nil, fmt.Errorf("read external organizations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.ExternalOrganization, error) { return scanExternal(r) })
	if err != nil {
		return nil, fmt.Errorf("read external organizations: %w", err)
	}
	return out, nil
}

// ExternalsForUpdate reads and locks the cached copies of the given external ids.
func (t *Tx) ExternalsForUpdate(ctx context.Context, integrationID string, ids []string) (map[string]domain.ExternalOrganization, error) {
	list, err := collectExternals(t.tx.Query(ctx, `SELECT `+externalColumns+`
		FROM unnest($2::text[]) AS want(id)
		JOIN external_organizations e ON e.integration_id = $1 AND e.external_id = want.id
		JOIN integrations i ON i.id = e.integration_id
		ORDER BY e.external_id FOR UPDATE OF e`, integrationID, ids))
	if err != nil {
		return nil, err
	}
	out := make(map[string]domain.ExternalOrganization, len(list))
	for _, e := range list {
		out[e.ExternalID] = e
	}
	return out, nil
}

// UpsertExternals writes cached copies (new or changed ones) in one statement.
func (t *Tx) UpsertExternals(ctx context.Context, accountID, integrationID string, list []domain.ExternalOrganization) error {
	if len(list) == 0 {
		return nil
	}
	n := len(list)
	ids, names, typeIDs, typeNames := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	statusIDs, statusNames, parents := make([]string, n), make([]string, n), make([]string, n)
	active, deleted := make([]bool, n), make([]bool, n)
	vendorUpdated, seen, stateAt := make([]*time.Time, n), make([]time.Time, n), make([]time.Time, n)
	states := make([]int16, n)
	reasons, by := make([]string, n), make([]string, n)
	for k, e := range list {
		ids[k], names[k], typeIDs[k], typeNames[k] = e.ExternalID, e.Name, e.TypeID, e.TypeName
		statusIDs[k], statusNames[k], parents[k] = e.StatusID, e.StatusName, e.ParentID
		active[k], deleted[k] = e.Active, e.Deleted
		if !e.VendorUpdated.IsZero() {
			v := e.VendorUpdated
			vendorUpdated[k] = &v
		}
		seen[k], stateAt[k], states[k], reasons[k], by[k] = e.LastSeen, e.StateAt, int16(e.State), e.StateReason, e.StateBy
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO external_organizations (account_id, integration_id, external_id, name, type_id,
			type_name, status_id, status_name, parent_id, active, deleted, vendor_updated_at, last_seen_at, state,
			state_reason, state_at, state_by)
		SELECT $1, $2, u.* FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
			$10::bool[], $11::bool[], $12::timestamptz[], $13::timestamptz[], $14::smallint[], $15::text[], $16::timestamptz[],
			$17::text[]) AS u
		ON CONFLICT (integration_id, external_id) DO UPDATE SET name = excluded.name, type_id = excluded.type_id,
			type_name = excluded.type_name, status_id = excluded.status_id, status_name = excluded.status_name,
			parent_id = excluded.parent_id, active = excluded.active, deleted = excluded.deleted,
			vendor_updated_at = excluded.vendor_updated_at, last_seen_at = excluded.last_seen_at, state = excluded.state,
			state_reason = excluded.state_reason, state_at = excluded.state_at, state_by = excluded.state_by,
			dismissed_at = CASE WHEN excluded.state <> 2 THEN NULL ELSE external_organizations.dismissed_at END`,
		accountID, integrationID, ids, names, typeIDs, typeNames, statusIDs, statusNames, parents, active, deleted,
		vendorUpdated, seen, states, reasons, stateAt, by)
	if err != nil {
		return fmt.Errorf("upsert external organizations: %w", err)
	}
	return nil
}

// MarkSeen records that a full refresh (operationID) saw the given ids, at.
func (t *Tx) MarkSeen(ctx context.Context, integrationID, operationID string, ids []string, at time.Time) error {
	// Joined on unnest, each id is one primary-key lookup: with "= ANY($3)" the generic plan of
	// the prepared statement scans every cached row of the integration (docs/benchmarks.md).
	if _, err := t.tx.Exec(ctx, `UPDATE external_organizations e SET seen_by = $2, last_seen_at = $4
		FROM unnest($3::text[]) AS seen(id)
		WHERE e.integration_id = $1 AND e.external_id = seen.id`, integrationID, operationID, ids, at); err != nil {
		return fmt.Errorf("mark external organizations seen: %w", err)
	}
	return nil
}

// OrphanUnseen orphans every cached organization of the integration that the full refresh
// operationID, started at started, did not see, and returns them after the change. One seen
// since the refresh started (a company the sync created, a webhook's) may have been added to
// the tool after the listing passed its place: it is not gone.
func (t *Tx) OrphanUnseen(ctx context.Context, integrationID, operationID, reason, by string, started, at time.Time) ([]domain.ExternalOrganization, error) {
	return collectExternals(t.tx.Query(ctx, `WITH o AS (
			UPDATE external_organizations SET state = 2, state_reason = $3, state_at = $5, state_by = $4
			WHERE integration_id = $1 AND seen_by IS DISTINCT FROM $2 AND state <> 2 AND last_seen_at < $6
			RETURNING *)
		SELECT `+strings.ReplaceAll(externalColumns, "e.", "o.")+` FROM o JOIN integrations i ON i.id = o.integration_id
		ORDER BY o.external_id`, integrationID, operationID, reason, by, at, started))
}

// ExternalFilter selects cached organizations.
type ExternalFilter struct {
	Query string
	State domain.ExternalState
	// After is the keyset position (lower(name), external id) of the previous page's last row.
	AfterName, AfterID string
	Limit              int
}

// Externals lists an integration's cached organizations by name, and counts all that match.
func (t *Tx) Externals(ctx context.Context, integrationID string, f ExternalFilter) ([]domain.ExternalOrganization, int64, error) {
	where := `e.integration_id = $1 AND ($2 = '' OR e.name ILIKE '%' || $2 || '%') AND ($3 = 0 OR e.state = $3)`
	var total int64
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM external_organizations e WHERE `+where,
		integrationID, postgres.EscapeLike(f.Query), f.State).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count external organizations: %w", err)
	}
	list, err := collectExternals(t.tx.Query(ctx, `SELECT `+externalColumns+`
		FROM external_organizations e JOIN integrations i ON i.id = e.integration_id
		WHERE `+where+` AND (lower(e.name), e.external_id) > ($4, $5)
		ORDER BY lower(e.name), e.external_id LIMIT $6`,
		integrationID, postgres.EscapeLike(f.Query), f.State, f.AfterName, f.AfterID, f.Limit))
	return list, total, err
}

// OrphanFilter pages the orphans list, newest first.
type OrphanFilter struct {
	// After is the keyset position (state time, integration id, external id) of the previous
	// page's last row; zero for the first page.
	AfterAt                   time.Time
	AfterIntegration, AfterID string
	Limit                     int
}

// Orphans lists the tenant's orphans across integrations, newest first, and counts them.
func (t *Tx) Orphans(ctx context.Context, f OrphanFilter) ([]domain.ExternalOrganization, int64, error) {
	var total int64
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM external_organizations WHERE state = 2 AND dismissed_at IS NULL`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count orphans: %w", err)
	}
	q := `SELECT ` + externalColumns + ` FROM external_organizations e JOIN integrations i ON i.id = e.integration_id
		WHERE e.state = 2 AND e.dismissed_at IS NULL`
	args := []any{f.Limit}
	if !f.AfterAt.IsZero() {
		q += ` AND (e.state_at, e.integration_id::text, e.external_id) < ($2, $3, $4)`
		args = append(args, f.AfterAt, f.AfterIntegration, f.AfterID)
	}
	q += ` ORDER BY e.state_at DESC, e.integration_id::text DESC, e.external_id DESC LIMIT $1`
	list, err := collectExternals(t.tx.Query(ctx, q, args...))
	return list, total, err
}

// AllExternals reads every cached organization of an integration (for a scope preview).
func (t *Tx) AllExternals(ctx context.Context, integrationID string) ([]domain.ExternalOrganization, error) {
	return collectExternals(t.tx.Query(ctx, `SELECT `+externalColumns+`
		FROM external_organizations e JOIN integrations i ON i.id = e.integration_id WHERE e.integration_id = $1`, integrationID))
}
