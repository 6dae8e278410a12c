package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

const integrationColumns = `i.id::text, i.account_id::text, i.kind, i.display_name, i.settings, i.endpoint, i.state, i.state_message,
	coalesce(i.budget_requests, 0), coalesce(i.budget_window_ms, 0), coalesce(i.budget_concurrency, 0),
	coalesce(i.last_refresh_at, 'epoch'), coalesce(i.last_full_refresh_at, 'epoch'), coalesce(i.last_refresh_started_at, 'epoch'),
	i.created_by, i.created_at, i.updated_at,
	coalesce((SELECT o.id::text FROM operations o WHERE o.integration_id = i.id AND o.state = 1), ''),
	(SELECT count(*) FROM external_organizations e WHERE e.integration_id = i.id),
	(SELECT count(*) FROM external_organizations e WHERE e.integration_id = i.id AND e.state = 2 AND e.dismissed_at IS NULL),
	i.sync_direction, i.sync_scope, coalesce(i.sync_updated_at, 'epoch'), i.sync_mappings, i.paused`

func scanIntegration(row pgx.Row) (domain.Integration, error) {
	var i domain.Integration
	var windowMS int64
	err := row.Scan(&i.ID, &i.AccountID, &i.Kind, &i.DisplayName, &i.Settings, &i.Endpoint, &i.State, &i.StateMessage,
		&i.Budget.Requests, &windowMS, &i.Budget.Concurrency, &i.LastRefresh, &i.LastFullRefresh, &i.LastRefreshStarted,
		&i.CreatedBy, &i.Created, &i.Updated, &i.RunningOperationID, &i.ExternalCount, &i.OrphanCount,
		&i.Sync.Direction, &i.Sync.Scope, &i.Sync.Updated, &i.Sync.Mappings, &i.Paused)
	if i.Sync.Updated.Unix() == 0 {
		i.Sync.Updated = time.Time{}
	}
	i.Budget.Window = time.Duration(windowMS) * time.Millisecond
	for _, t := range []*time.Time{&i.LastRefresh, &i.LastFullRefresh, &i.LastRefreshStarted} {
		if t.Unix() == 0 {
			*t = time.Time{}
		}
	}
	return i, err
}

// InsertIntegration stores a new integration and its directory entry (due for a first full
// refresh at once); ErrKindTaken when the account has one of its kind.
func (t *Tx) InsertIntegration(ctx context.Context, i domain.Integration, firstRefresh time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO integrations (id, account_id, kind, display_name, settings, endpoint, state,
			budget_requests, budget_window_ms, budget_concurrency, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, 0), nullif($9, 0), nullif($10, 0), $11, $12, $12)`,
		i.ID, i.AccountID, i.Kind, i.DisplayName, i.Settings, i.Endpoint, i.State,
		i.Budget.Requests, i.Budget.Window.Milliseconds(), i.Budget.Concurrency, i.CreatedBy, i.Created)
	if postgres.ConstraintName(err) == "integrations_one_per_kind" {
		return domain.ErrKindTaken
	}
	if err != nil {
		return fmt.Errorf("insert integration: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO integration_directory (integration_id, account_id, next_full_at, next_incremental_at)
		VALUES ($1, $2, $3, $3)`, i.ID, i.AccountID, firstRefresh); err != nil {
		return fmt.Errorf("insert integration directory entry: %w", err)
	}
	return nil
}

// Integration reads one of the tenant's integrations; lock takes its row lock.
func (t *Tx) Integration(ctx context.Context, id string, lock bool) (domain.Integration, error) {
	q := `SELECT ` + integrationColumns + ` FROM integrations i WHERE i.id = $1`
	if lock {
		q += ` FOR UPDATE OF i`
	}
	i, err := scanIntegration(t.tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Integration{}, domain.ErrIntegrationNotFound
	}
	if err != nil {
		return domain.Integration{}, fmt.Errorf("read integration: %w", err)
	}
	if i.Credentials, err = t.CredentialStatus(ctx, id); err != nil {
		return domain.Integration{}, err
	}
	return i, nil
}

// IntegrationPage pages the account's integrations by kind, then creation, then id.
type IntegrationPage struct {
	// After is the keyset position of the previous page's last integration; AfterID "" for the
	// first page.
	AfterKind string
	AfterAt   time.Time
	AfterID   string
	Limit     int
}

// Integrations lists a page of the tenant's integrations by kind then creation, up to p.Limit.
func (t *Tx) Integrations(ctx context.Context, p IntegrationPage) ([]domain.Integration, error) {
	q := `SELECT ` + integrationColumns + ` FROM integrations i`
	args := []any{p.Limit}
	if p.AfterID != "" {
		q += ` WHERE (i.kind, i.created_at, i.id) > ($2, $3, $4::uuid)`
		args = append(args, p.AfterKind, p.AfterAt, p.AfterID)
	}
	rows, err := t.tx.Query(ctx, q+` ORDER BY i.kind, i.created_at, i.id LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Integration, error) { return scanIntegration(r) })
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	for k := range out {
		if out[k].Credentials, err = t.CredentialStatus(ctx, out[k].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateIntegration writes an integration's changeable fields.
func (t *Tx) UpdateIntegration(ctx context.Context, i domain.Integration) error {
	_, err := t.tx.Exec(ctx, `UPDATE integrations SET display_name = $2, settings = $3, endpoint = $4, state = $5,
			state_message = $6, budget_requests = nullif($7, 0), budget_window_ms = nullif($8, 0),
			budget_concurrency = nullif($9, 0), updated_at = $10
		WHERE id = $1`, i.ID, i.DisplayName, i.Settings, i.Endpoint, i.State, i.StateMessage,
		i.Budget.Requests, i.Budget.Window.Milliseconds(), i.Budget.Concurrency, i.Updated)
	if err != nil {
		return fmt.Errorf("update integration: %w", err)
	}
	return nil
}

// SetIntegrationState records what the tool last said about the credentials.
func (t *Tx) SetIntegrationState(ctx context.Context, id string, s domain.IntegrationState, msg string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE integrations SET state = $2, state_message = $3, updated_at = $4 WHERE id = $1`, id, s, msg, at)
	if err != nil {
		return fmt.Errorf("set integration state: %w", err)
	}
	return nil
}

// RecordRefresh records a successful refresh that started at started.
func (t *Tx) RecordRefresh(ctx context.Context, id string, full bool, started, ended time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE integrations SET last_refresh_at = $2, last_refresh_started_at = $3,
			last_full_refresh_at = CASE WHEN $4 THEN $2 ELSE last_full_refresh_at END
		WHERE id = $1`, id, ended, started, full)
	if err != nil {
		return fmt.Errorf("record refresh: %w", err)
	}
	return nil
}

// DeleteIntegration deletes an integration with its credentials, cache and operations, and
// its directory entry, queued work and webhook deliveries.
func (t *Tx) DeleteIntegration(ctx context.Context, id string) error {
	for _, q := range []string{
		`DELETE FROM operation_queue WHERE operation_id IN (SELECT o.id FROM operations o WHERE o.integration_id = $1)`,
		`DELETE FROM integration_directory WHERE integration_id = $1`,
		`DELETE FROM webhook_deliveries WHERE integration_id = $1`,
	} {
		if _, err := t.tx.Exec(ctx, q, id); err != nil {
			return fmt.Errorf("delete integration: %w", err)
		}
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM integrations WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete integration: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.ErrIntegrationNotFound
	}
	return nil
}

// SetSyncSettings writes an integration's sync direction and scope.
func (t *Tx) SetSyncSettings(ctx context.Context, id string, s domain.SyncSettings) error {
	if _, err := t.tx.Exec(ctx, `UPDATE integrations SET sync_direction = $2, sync_scope = $3, sync_updated_at = $4, sync_mappings = $5
		WHERE id = $1`, id, s.Direction, s.Scope, s.Updated, s.Mappings); err != nil {
		return fmt.Errorf("save sync settings: %w", err)
	}
	return nil
}
