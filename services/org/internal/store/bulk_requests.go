package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// ClaimBulkCreateRequest records that this transaction makes the bulk create of names under
// requestID, or, when one already did, returns its record (found). The row goes in first,
// before anything is created: a concurrent transaction with the same id waits on it (the
// primary key) until this one ends, then finds the record if this one committed or claims the
// id itself if it rolled back. So two concurrent repeats never both create. The organization
// ids are filled in by CompleteBulkCreateRequest before the commit.
func (t *Tx) ClaimBulkCreateRequest(ctx context.Context, accountID, requestID string, names []string, now time.Time) (
	rec domain.BulkCreateRecord, found bool, err error) {
	// A record read after losing the insert can only be missing if it was pruned in between;
	// the next attempt claims the id then.
	for range 2 {
		tag, err := t.tx.Exec(ctx, `INSERT INTO bulk_create_requests (account_id, request_id, names, organization_ids, created_at)
				VALUES ($1, $2, $3, '{}', $4) ON CONFLICT DO NOTHING`, accountID, requestID, names, now)
		if postgres.ConstraintName(err) == "bulk_create_requests_account_id_fkey" {
			// Only a service names an account without belonging to it: members' accounts exist.
			return domain.BulkCreateRecord{}, false, domain.ErrAccountNotFound
		}
		if err != nil {
			return domain.BulkCreateRecord{}, false, fmt.Errorf("claim bulk create request: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return domain.BulkCreateRecord{}, false, nil
		}
		// READ COMMITTED: this statement sees the row the insert above waited for.
		err = t.tx.QueryRow(ctx, `SELECT names, organization_ids::text[] FROM bulk_create_requests
				WHERE account_id = $1 AND request_id = $2`, accountID, requestID).Scan(&rec.Names, &rec.OrganizationIDs)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return domain.BulkCreateRecord{}, false, fmt.Errorf("read bulk create request: %w", err)
		}
		return rec, true, nil
	}
	return domain.BulkCreateRecord{}, false, errors.New("claim bulk create request: neither inserted nor found")
}

// CompleteBulkCreateRequest records the organizations the claimed request created, in request
// order.
func (t *Tx) CompleteBulkCreateRequest(ctx context.Context, accountID, requestID string, orgIDs []string) error {
	_, err := t.tx.Exec(ctx, `UPDATE bulk_create_requests SET organization_ids = $3::uuid[]
			WHERE account_id = $1 AND request_id = $2`, accountID, requestID, orgIDs)
	if err != nil {
		return fmt.Errorf("complete bulk create request: %w", err)
	}
	return nil
}

// pruneBatch bounds the work one bulk create does for the pruning.
const pruneBatch = 100

// PruneBulkCreateRequests forgets up to pruneBatch of the account's request ids recorded before
// before. It runs opportunistically in the bulk creates that record one, so the table holds
// about one retention period of ids without a scheduled job. Rows another transaction holds are
// skipped rather than waited for: two bulk creates of one account must not queue on each other
// here.
func (t *Tx) PruneBulkCreateRequests(ctx context.Context, accountID string, before time.Time) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM bulk_create_requests WHERE (account_id, request_id) IN (
			SELECT account_id, request_id FROM bulk_create_requests WHERE account_id = $1 AND created_at < $2
			LIMIT $3 FOR UPDATE SKIP LOCKED)`, accountID, before, pruneBatch)
	if err != nil {
		return fmt.Errorf("prune bulk create requests: %w", err)
	}
	return nil
}

// OrganizationsByID reads the organizations of ids that vis may see, in the order of ids; those
// deleted since or not visible are left out.
func (t *Tx) OrganizationsByID(ctx context.Context, vis domain.Visibility, ids []string) ([]domain.Organization, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+orgColumns+`
			FROM unnest($1::uuid[]) WITH ORDINALITY AS r(id, n) JOIN organizations o ON o.id = r.id
			WHERE `+visibleSQL("$2", "$3")+` ORDER BY r.n`, ids, vis.Restricted, vis.Groups)
	if err != nil {
		return nil, fmt.Errorf("read organizations by id: %w", err)
	}
	orgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Organization, error) { return scanOrg(r) })
	if err != nil {
		return nil, fmt.Errorf("read organizations by id: %w", err)
	}
	return orgs, nil
}
