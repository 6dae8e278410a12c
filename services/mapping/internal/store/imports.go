package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/postgres"

	"github.com/orgplane/orgplane/services/mapping/internal/domain"
)

const importColumns = `id::text, account_id::text, integration_id::text, request_id::text, state, items_total, items_done,
	created_count, linked_count, relinked_count, failed_count, error, created_by, created_at, coalesce(ended_at, 'epoch')`

func scanImport(r pgx.Row) (domain.Import, error) {
	var im domain.Import
	err := r.Scan(&im.ID, &im.AccountID, &im.IntegrationID, &im.RequestID, &im.State, &im.Total, &im.Done,
		&im.Created, &im.Linked, &im.Relinked, &im.Failed, &im.Error, &im.CreatedBy, &im.Started, &im.Ended)
	if im.Ended.Unix() == 0 {
		im.Ended = time.Time{}
	}
	return im, err
}

// ImportByRequest returns the import a request id started, if any.
func (t *Tx) ImportByRequest(ctx context.Context, requestID string) (domain.Import, bool, error) {
	im, err := scanImport(t.tx.QueryRow(ctx, `SELECT `+importColumns+` FROM imports WHERE request_id = $1`, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Import{}, false, nil
	}
	if err != nil {
		return domain.Import{}, false, fmt.Errorf("read import: %w", err)
	}
	return im, true, nil
}

// Import reads an import; lock takes its row lock.
func (t *Tx) Import(ctx context.Context, id string, lock bool) (domain.Import, error) {
	q := `SELECT ` + importColumns + ` FROM imports WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	im, err := scanImport(t.tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Import{}, domain.ErrImportNotFound
	}
	if err != nil {
		return domain.Import{}, fmt.Errorf("read import: %w", err)
	}
	return im, nil
}

// InsertImport stores a new import with its items (outcomes already decided for the items that
// failed up front) and queues it; false when the request id already started one.
func (t *Tx) InsertImport(ctx context.Context, im domain.Import, actingAs []byte, items []domain.ImportItem) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO imports (id, account_id, integration_id, request_id, state, items_total, items_done,
			failed_count, created_by, acting_as, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (account_id, request_id) DO NOTHING`,
		im.ID, im.AccountID, im.IntegrationID, im.RequestID, im.State, im.Total, im.Done, im.Failed, im.CreatedBy, actingAs, im.Started)
	if err != nil {
		return false, fmt.Errorf("insert import: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	n := len(items)
	seqs, exts, names, outcomes, reasons := make([]int32, n), make([]string, n), make([]string, n), make([]int16, n), make([]string, n)
	for i, it := range items {
		seqs[i], exts[i], names[i], outcomes[i], reasons[i] = int32(it.Seq), it.ExternalID, it.Name, int16(it.Outcome), it.Reason
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO import_items (account_id, import_id, seq, external_id, name, outcome, reason)
		SELECT $1, $2, u.* FROM unnest($3::int[], $4::text[], $5::text[], $6::smallint[], $7::text[]) AS u`,
		im.AccountID, im.ID, seqs, exts, names, outcomes, reasons); err != nil {
		return false, fmt.Errorf("insert import items: %w", err)
	}
	if im.State == domain.ImportRunning {
		if _, err := t.tx.Exec(ctx, `INSERT INTO import_queue (import_id, account_id, lease_until) VALUES ($1, $2, now())`,
			im.ID, im.AccountID); err != nil {
			return false, fmt.Errorf("queue import: %w", err)
		}
	}
	return true, nil
}

// ActingAs returns the identity an import acts for, as stored.
func (t *Tx) ActingAs(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	if err := t.tx.QueryRow(ctx, `SELECT acting_as FROM imports WHERE id = $1`, id).Scan(&b); err != nil {
		return nil, fmt.Errorf("read import identity: %w", err)
	}
	return b, nil
}

// PendingItems returns up to limit items without an outcome, in order.
func (t *Tx) PendingItems(ctx context.Context, importID string, limit int) ([]domain.ImportItem, error) {
	rows, err := t.tx.Query(ctx, `SELECT seq, external_id, name, outcome, planned, coalesce(chunk_request::text, ''),
			coalesce(organization_id::text, ''), reason
		FROM import_items WHERE import_id = $1 AND outcome = 0 ORDER BY seq LIMIT $2`, importID, limit)
	if err != nil {
		return nil, fmt.Errorf("read import items: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[domain.ImportItem])
}

// Items pages an import's items by sequence.
func (t *Tx) Items(ctx context.Context, importID string, afterSeq, limit int) ([]domain.ImportItem, error) {
	rows, err := t.tx.Query(ctx, `SELECT seq, external_id, name, outcome, planned, coalesce(chunk_request::text, ''),
			coalesce(organization_id::text, ''), reason
		FROM import_items WHERE import_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, importID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read import items: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[domain.ImportItem])
}

// SaveItems writes items' plans and outcomes.
func (t *Tx) SaveItems(ctx context.Context, importID string, items []domain.ImportItem) error {
	n := len(items)
	seqs, outcomes, planned, reasons := make([]int32, n), make([]int16, n), make([]int16, n), make([]string, n)
	chunks, orgs := make([]*string, n), make([]*string, n)
	for i, it := range items {
		seqs[i], outcomes[i], planned[i], reasons[i] = int32(it.Seq), int16(it.Outcome), int16(it.Planned), it.Reason
		chunks[i], orgs[i] = nullUUID(it.ChunkRequest), nullUUID(it.OrganizationID)
	}
	if _, err := t.tx.Exec(ctx, `UPDATE import_items i SET outcome = u.outcome, planned = u.planned, reason = u.reason,
			chunk_request = u.chunk::uuid, organization_id = u.org::uuid
		FROM unnest($2::int[], $3::smallint[], $4::smallint[], $5::text[], $6::text[], $7::text[]) AS u(seq, outcome, planned, reason, chunk, org)
		WHERE i.import_id = $1 AND i.seq = u.seq`, importID, seqs, outcomes, planned, reasons, chunks, orgs); err != nil {
		return fmt.Errorf("save import items: %w", err)
	}
	return nil
}

// SaveImport writes an import's counts and state, and dequeues it once it ended.
func (t *Tx) SaveImport(ctx context.Context, im domain.Import) error {
	var ended *time.Time
	if !im.Ended.IsZero() {
		ended = &im.Ended
	}
	if _, err := t.tx.Exec(ctx, `UPDATE imports SET state = $2, items_done = $3, created_count = $4, linked_count = $5,
			relinked_count = $6, failed_count = $7, error = $8, ended_at = $9 WHERE id = $1`,
		im.ID, im.State, im.Done, im.Created, im.Linked, im.Relinked, im.Failed, im.Error, ended); err != nil {
		return fmt.Errorf("save import: %w", err)
	}
	if im.State != domain.ImportRunning {
		if _, err := t.tx.Exec(ctx, `DELETE FROM import_queue WHERE import_id = $1`, im.ID); err != nil {
			return fmt.Errorf("dequeue import: %w", err)
		}
	}
	return nil
}

// OrgsByName finds the account's organizations by exact name (visible or not: names are unique
// in the account), with their link in the integration.
func (t *Tx) OrgsByName(ctx context.Context, integrationID string, names []string) (map[string]OrgMatch, error) {
	rows, err := t.tx.Query(ctx, `SELECT o.name, o.id::text, coalesce(l.external_organization_id, ''), coalesce(l.id::text, ''),
			o.group_ids::text[]
		FROM unnest($2::text[]) AS want(name)
		JOIN organizations o ON o.name = want.name
		LEFT JOIN links l ON l.organization_id = o.id AND l.integration_id = $1
		FOR UPDATE OF o`, integrationID, names)
	if err != nil {
		return nil, fmt.Errorf("find organizations by name: %w", err)
	}
	out := map[string]OrgMatch{}
	defer rows.Close()
	for rows.Next() {
		var name string
		var m OrgMatch
		if err := rows.Scan(&name, &m.ID, &m.LinkedExternal, &m.LinkID, &m.Groups); err != nil {
			return nil, err
		}
		out[name] = m
	}
	return out, rows.Err()
}

// OrgMatch is an organization found by name and its link in an integration.
type OrgMatch struct {
	ID, LinkedExternal, LinkID string
	Groups                     []string
}

// InsertLinkIfFree stores l unless the organization already has a link in the integration or
// the external organization is linked already; false then.
func (t *Tx) InsertLinkIfFree(ctx context.Context, l domain.Link) (string, bool, error) {
	var id string
	err := t.tx.QueryRow(ctx, `INSERT INTO links (account_id, organization_id, integration_id, external_organization_id,
			external_name, method, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT DO NOTHING RETURNING id::text`,
		l.AccountID, l.OrganizationID, l.IntegrationID, l.ExternalOrganizationID, l.ExternalName, l.Method, l.CreatedBy, l.Created).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("insert link: %w", err)
	}
	return id, true, nil
}

// ClaimImport leases the most overdue queued import to owner (system scope).
func (t *Tx) ClaimImport(ctx context.Context, owner string, lease time.Duration) (string, string, bool, error) {
	var id, account string
	err := t.tx.QueryRow(ctx, `UPDATE import_queue SET lease_until = now() + $2 * interval '1 millisecond', lease_owner = $1
		WHERE import_id = (SELECT import_id FROM import_queue WHERE lease_until <= now() ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING import_id::text, account_id::text`, owner, lease.Milliseconds()).Scan(&id, &account)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("claim import: %w", err)
	}
	return id, account, true, nil
}

// ErrLeaseLost: another worker holds the import now.
var ErrLeaseLost = errors.New("import lease lost")

// RenewImportLease extends owner's lease; ErrLeaseLost when owner no longer holds it.
func (t *Tx) RenewImportLease(ctx context.Context, id, owner string, lease time.Duration) error {
	tag, err := t.tx.Exec(ctx, `UPDATE import_queue SET lease_until = now() + $3 * interval '1 millisecond'
		WHERE import_id = $1 AND lease_owner = $2`, id, owner, lease.Milliseconds())
	if err != nil {
		return fmt.Errorf("renew import lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// PostponeImport releases owner's lease and makes the import due again after delay.
func (t *Tx) PostponeImport(ctx context.Context, id, owner string, delay time.Duration) error {
	_, err := t.tx.Exec(ctx, `UPDATE import_queue SET lease_until = now() + $3 * interval '1 millisecond', lease_owner = ''
		WHERE import_id = $1 AND lease_owner = $2`, id, owner, delay.Milliseconds())
	return err
}

// Candidates pages an IT Glue integration's organizations not imported yet (not linked, not
// deleted, not orphaned) by name, and counts them.
func (t *Tx) Candidates(ctx context.Context, integrationID, query, afterName, afterID string, limit int) ([]ExternalCopy, int64, error) {
	where := `e.integration_id = $1 AND NOT e.deleted AND e.state <> 2 AND ($2 = '' OR e.name ILIKE '%' || $2 || '%')
		AND NOT EXISTS (SELECT 1 FROM links l WHERE l.integration_id = e.integration_id AND l.external_organization_id = e.external_id)`
	var total int64
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM external_organizations e WHERE `+where, integrationID, postgres.EscapeLike(query)).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count import candidates: %w", err)
	}
	rows, err := t.tx.Query(ctx, `SELECT e.external_id, e.name, e.parent_id, e.state, e.deleted FROM external_organizations e
		WHERE `+where+` AND (lower(e.name), e.external_id) > ($3, $4) ORDER BY lower(e.name), e.external_id LIMIT $5`,
		integrationID, postgres.EscapeLike(query), afterName, afterID, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("read import candidates: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ExternalCopy, error) {
		e := ExternalCopy{IntegrationID: integrationID}
		err := r.Scan(&e.ExternalID, &e.Name, &e.ParentID, &e.State, &e.Deleted)
		return e, err
	})
	return list, total, err
}

// ExternalsByID reads external organizations of an integration, with whether each is linked.
func (t *Tx) ExternalsByID(ctx context.Context, integrationID string, ids []string) (map[string]ExternalLinked, error) {
	rows, err := t.tx.Query(ctx, `SELECT e.external_id, e.name, e.deleted, e.state, (l.id IS NOT NULL)
		FROM unnest($2::text[]) AS want(id)
		JOIN external_organizations e ON e.integration_id = $1 AND e.external_id = want.id
		LEFT JOIN links l ON l.integration_id = e.integration_id AND l.external_organization_id = e.external_id`, integrationID, ids)
	if err != nil {
		return nil, fmt.Errorf("read external organizations: %w", err)
	}
	out := map[string]ExternalLinked{}
	defer rows.Close()
	for rows.Next() {
		var e ExternalLinked
		if err := rows.Scan(&e.ExternalID, &e.Name, &e.Deleted, &e.State, &e.Linked); err != nil {
			return nil, err
		}
		out[e.ExternalID] = e
	}
	return out, rows.Err()
}

// ExternalLinked is an external organization and whether it is linked.
type ExternalLinked struct {
	ExternalID, Name string
	Deleted          bool
	State            int16
	Linked           bool
}

// ExistingNames returns which of names are taken by an organization of the account.
func (t *Tx) ExistingNames(ctx context.Context, names []string) (map[string]bool, error) {
	rows, err := t.tx.Query(ctx, `SELECT o.name FROM organizations o WHERE o.name = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("find names: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(list))
	for _, n := range list {
		out[n] = true
	}
	return out, err
}
