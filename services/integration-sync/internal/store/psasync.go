package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// UpsertOrganization writes the copy of an Orgplane organization, unless the copy already holds
// a later change (events of one organization arrive in order, redeliveries may not).
func (t *Tx) UpsertOrganization(ctx context.Context, o domain.Organization) error {
	groups := o.GroupIDs
	if groups == nil {
		groups = []string{}
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO organizations (account_id, id, name, type_id, status_id, parent_id, active, group_ids, changed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, type_id = excluded.type_id, status_id = excluded.status_id,
			parent_id = excluded.parent_id, active = excluded.active, group_ids = excluded.group_ids, changed_at = excluded.changed_at
		WHERE organizations.changed_at <= excluded.changed_at`,
		o.AccountID, o.ID, o.Name, o.TypeID, o.StatusID, o.ParentID, o.Active, groups, o.Changed); err != nil {
		return fmt.Errorf("save organization copy: %w", err)
	}
	return nil
}

// DeleteOrganization forgets an organization's copy and its pending sync tasks.
func (t *Tx) DeleteOrganization(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `WITH gone AS (DELETE FROM sync_tasks WHERE organization_id = $1 RETURNING id)
		DELETE FROM sync_queue WHERE task_id IN (SELECT id FROM gone)`, id); err != nil {
		return fmt.Errorf("drop sync tasks: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, id); err != nil {
		return fmt.Errorf("forget organization copy: %w", err)
	}
	return nil
}

// Organization reads an organization's copy; false when there is none.
func (t *Tx) Organization(ctx context.Context, id string) (domain.Organization, bool, error) {
	var o domain.Organization
	err := t.tx.QueryRow(ctx, `SELECT account_id::text, id::text, name, type_id, status_id, parent_id, active, group_ids, changed_at
		FROM organizations WHERE id = $1`, id).Scan(&o.AccountID, &o.ID, &o.Name, &o.TypeID, &o.StatusID, &o.ParentID, &o.Active,
		&o.GroupIDs, &o.Changed)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("read organization copy: %w", err)
	}
	return o, true, nil
}

// OrganizationByName finds the tenant's organization of exactly this name; false when none.
func (t *Tx) OrganizationByName(ctx context.Context, name string) (string, bool, error) {
	var id string
	err := t.tx.QueryRow(ctx, `SELECT id::text FROM organizations WHERE name = $1 LIMIT 1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find organization by name: %w", err)
	}
	return id, true, nil
}

// PSAIntegrations lists the tenant's integrations whose kind is a PSA, with their settings.
func (t *Tx) PSAIntegrations(ctx context.Context, kinds []string) ([]domain.Integration, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+integrationColumns+` FROM integrations i WHERE i.kind = ANY($1) ORDER BY i.id`, kinds)
	if err != nil {
		return nil, fmt.Errorf("list PSA integrations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Integration, error) { return scanIntegration(r) })
}

// OrganizationSyncIntegrations lists up to limit integrations of the given kinds that link the
// organization or have a change of it waiting, by kind then id, after the integration of
// afterKind with id afterID (afterID "" for the first).
func (t *Tx) OrganizationSyncIntegrations(ctx context.Context, kinds []string, organizationID, afterKind, afterID string, limit int) ([]domain.Integration, error) {
	q := `SELECT ` + integrationColumns + ` FROM integrations i WHERE i.kind = ANY($1)
		AND (EXISTS (SELECT 1 FROM external_organizations e WHERE e.integration_id = i.id AND e.organization_id = $2::uuid)
			OR EXISTS (SELECT 1 FROM sync_tasks k WHERE k.integration_id = i.id AND k.organization_id = $2::uuid))`
	args := []any{kinds, organizationID, limit}
	if afterID != "" {
		q += ` AND (i.kind, i.id) > ($4, $5::uuid)`
		args = append(args, afterKind, afterID)
	}
	rows, err := t.tx.Query(ctx, q+` ORDER BY i.kind, i.id LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("list an organization's sync integrations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Integration, error) { return scanIntegration(r) })
}

// LinkedExternal reads the company linked to an organization in an integration; false when none.
func (t *Tx) LinkedExternal(ctx context.Context, integrationID, organizationID string, lock bool) (domain.ExternalOrganization, bool, error) {
	q := `SELECT ` + externalColumns + ` FROM external_organizations e JOIN integrations i ON i.id = e.integration_id
		WHERE e.integration_id = $1 AND e.organization_id = $2 ORDER BY e.state_at DESC LIMIT 1`
	if lock {
		q += ` FOR UPDATE OF e`
	}
	e, err := scanExternal(t.tx.QueryRow(ctx, q, integrationID, organizationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("read linked company: %w", err)
	}
	return e, true, nil
}

// SetLink records that a company is linked to an organization (mapping's event, or the sync's
// own request), unlinking whatever else in the integration pointed at the organization, and returns
// the companies it changed. A new link starts without a base: linking writes neither side.
func (t *Tx) SetLink(ctx context.Context, integrationID, externalID, organizationID string) (touched []string, err error) {
	rows, err := t.tx.Query(ctx, `WITH moved AS (
			UPDATE external_organizations SET organization_id = NULL, base = NULL
			WHERE integration_id = $1 AND organization_id = $3 AND external_id <> $2 RETURNING external_id),
		linked AS (
			UPDATE external_organizations SET organization_id = $3, base = NULL
			WHERE integration_id = $1 AND external_id = $2 AND organization_id IS DISTINCT FROM $3 RETURNING external_id)
		SELECT external_id FROM moved UNION ALL SELECT external_id FROM linked`, integrationID, externalID, organizationID)
	if err != nil {
		return nil, fmt.Errorf("link company: %w", err)
	}
	touched, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("link company: %w", err)
	}
	return touched, nil
}

// ClearLink records that a company is no longer linked (to organizationID, when given).
func (t *Tx) ClearLink(ctx context.Context, integrationID, externalID, organizationID string) error {
	if _, err := t.tx.Exec(ctx, `UPDATE external_organizations SET organization_id = NULL, base = NULL
		WHERE integration_id = $1 AND external_id = $2 AND ($3 = '' OR organization_id::text = $3)`,
		integrationID, externalID, organizationID); err != nil {
		return fmt.Errorf("unlink company: %w", err)
	}
	return nil
}

// SyncOutcome is what a sync of one pair leaves on its company's row.
type SyncOutcome struct {
	Base          domain.Base
	At            time.Time
	Result        string
	CreatedBySync bool
}

// RecordSync stores a pair's new base and the last sync's time and result.
func (t *Tx) RecordSync(ctx context.Context, integrationID, externalID string, o SyncOutcome) error {
	if _, err := t.tx.Exec(ctx, `UPDATE external_organizations SET base = $3, last_sync_at = $4, last_sync_result = $5,
			created_by_sync = created_by_sync OR $6
		WHERE integration_id = $1 AND external_id = $2`, integrationID, externalID, o.Base, o.At, o.Result, o.CreatedBySync); err != nil {
		return fmt.Errorf("record sync: %w", err)
	}
	return nil
}

// PublishSyncing compares, for the integration's companies (those in externalIDs, or all when
// nil), whether each syncs its organization with what organization_sync.changed last said, and
// publishes the differences in this transaction. A pair syncs when it is linked, the company is
// SYNCING, and the integration's sync is on and not paused. Every change that may alter one of
// those calls this before it commits, so org's deletion guard follows the truth.
func (t *Tx) PublishSyncing(ctx context.Context, accountID, integrationID string, externalIDs []string, at time.Time) error {
	rows, err := t.tx.Query(ctx, `WITH want AS (
			SELECT e.integration_id, e.external_id, e.syncing_org AS was,
				CASE WHEN e.state = 1 AND i.sync_direction <> 1 AND NOT i.paused THEN e.organization_id END AS now
			FROM external_organizations e JOIN integrations i ON i.id = e.integration_id
			WHERE e.integration_id = $1 AND ($2::text[] IS NULL OR e.external_id = ANY($2))
			FOR UPDATE OF e),
		changed AS (
			UPDATE external_organizations e SET syncing_org = want.now FROM want
			WHERE e.integration_id = want.integration_id AND e.external_id = want.external_id
				AND want.was IS DISTINCT FROM want.now
			RETURNING coalesce(want.was::text, ''), coalesce(want.now::text, ''))
		SELECT * FROM changed`, integrationID, externalIDs)
	if err != nil {
		return fmt.Errorf("compare syncing: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[syncingChange])
	if err != nil {
		return fmt.Errorf("compare syncing: %w", err)
	}
	return t.enqueueSyncing(ctx, accountID, integrationID, list, at)
}

// syncingChange is one pair whose syncing organization changed (empty: none).
type syncingChange struct{ Was, Now string }

func (t *Tx) enqueueSyncing(ctx context.Context, accountID, integrationID string, list []syncingChange, at time.Time) error {
	for _, c := range list {
		if c.Was != "" {
			if err := t.Enqueue(ctx, &integrationsyncv1.OrganizationSyncChanged{AccountId: accountID, OrganizationId: c.Was,
				IntegrationId: integrationID, Syncing: false}, at); err != nil {
				return err
			}
		}
		if c.Now != "" {
			if err := t.Enqueue(ctx, &integrationsyncv1.OrganizationSyncChanged{AccountId: accountID, OrganizationId: c.Now,
				IntegrationId: integrationID, Syncing: true}, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// SyncTask is one organization to push or reconcile, or one company to pull, in an integration.
type SyncTask struct {
	ID               int64
	AccountID        string
	IntegrationID    string
	OrganizationID   string
	ExternalID       string
	Generation       int64
	State            int16
	Reason           string
	Attempts         int
	CreateStarted    time.Time
	Identifier       string
	Created, Updated time.Time
}

const taskColumns = `id, account_id::text, integration_id::text, coalesce(organization_id::text, ''), coalesce(external_id, ''),
	generation, state, reason, attempts, coalesce(create_started_at, 'epoch'), identifier, created_at, updated_at`

func scanTask(r pgx.Row) (SyncTask, error) {
	var k SyncTask
	err := r.Scan(&k.ID, &k.AccountID, &k.IntegrationID, &k.OrganizationID, &k.ExternalID, &k.Generation, &k.State,
		&k.Reason, &k.Attempts, &k.CreateStarted, &k.Identifier, &k.Created, &k.Updated)
	if k.CreateStarted.Unix() == 0 {
		k.CreateStarted = time.Time{}
	}
	return k, err
}

// TouchOrganizationTask asks for an organization to be synced with an integration: a new task
// due now, or a new generation of the pending one (due now unless it is backing off).
func (t *Tx) TouchOrganizationTask(ctx context.Context, accountID, integrationID, organizationID string, at time.Time) error {
	return t.touchTask(ctx, accountID, integrationID, organizationID, "", at)
}

// TouchExternalTask asks for a company to be pulled (or its pair reconciled when linked).
func (t *Tx) TouchExternalTask(ctx context.Context, accountID, integrationID, externalID string, at time.Time) error {
	return t.touchTask(ctx, accountID, integrationID, "", externalID, at)
}

func (t *Tx) touchTask(ctx context.Context, accountID, integrationID, organizationID, externalID string, at time.Time) error {
	conflict := `(integration_id, organization_id) WHERE organization_id IS NOT NULL`
	if externalID != "" {
		conflict = `(integration_id, external_id) WHERE external_id IS NOT NULL`
	}
	var id int64
	err := t.tx.QueryRow(ctx, `INSERT INTO sync_tasks (account_id, integration_id, organization_id, external_id, created_at, updated_at)
		VALUES ($1, $2, nullif($3, '')::uuid, nullif($4, ''), $5, $5)
		ON CONFLICT `+conflict+` DO UPDATE SET generation = sync_tasks.generation + 1, updated_at = excluded.updated_at
		RETURNING id`, accountID, integrationID, organizationID, externalID, at).Scan(&id)
	if err != nil {
		return fmt.Errorf("save sync task: %w", err)
	}
	// A task backing off after failures keeps its due time: a burst of changes must not turn
	// into a burst of calls to a PSA that is down.
	if _, err := t.tx.Exec(ctx, `INSERT INTO sync_queue (task_id, account_id, due_at) VALUES ($1, $2, now())
		ON CONFLICT (task_id) DO NOTHING`, id, accountID); err != nil {
		return fmt.Errorf("queue sync task: %w", err)
	}
	return nil
}

// TaskClaim is a leased sync task.
type TaskClaim struct {
	TaskID    int64
	AccountID string
}

// ClaimTasks leases up to limit due sync tasks to owner (system scope).
func (t *Tx) ClaimTasks(ctx context.Context, owner string, lease time.Duration, limit int) ([]TaskClaim, error) {
	rows, err := t.tx.Query(ctx, `UPDATE sync_queue SET lease_until = now() + $2 * interval '1 millisecond', lease_owner = $1
		WHERE task_id IN (SELECT task_id FROM sync_queue WHERE greatest(due_at, lease_until) <= now()
			ORDER BY greatest(due_at, lease_until) LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING task_id, account_id::text`, owner, lease.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("claim sync tasks: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[TaskClaim])
}

// Task reads and locks a sync task; false when it is gone.
func (t *Tx) Task(ctx context.Context, id int64) (SyncTask, bool, error) {
	k, err := scanTask(t.tx.QueryRow(ctx, `SELECT `+taskColumns+` FROM sync_tasks WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("read sync task: %w", err)
	}
	return k, true, nil
}

// OrganizationTasks lists the pending tasks of an organization across integrations.
func (t *Tx) OrganizationTasks(ctx context.Context, organizationID string) ([]SyncTask, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+taskColumns+` FROM sync_tasks WHERE organization_id = $1`, organizationID)
	if err != nil {
		return nil, fmt.Errorf("read sync tasks: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SyncTask, error) { return scanTask(r) })
}

// MarkCreateStarted records that a create may reach the PSA, with the identifier it uses.
func (t *Tx) MarkCreateStarted(ctx context.Context, id int64, identifier string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sync_tasks SET create_started_at = coalesce(create_started_at, $2), identifier = $3
		WHERE id = $1`, id, at, identifier); err != nil {
		return fmt.Errorf("mark create started: %w", err)
	}
	return nil
}

// FinishTask deletes a task done at generation; a task touched since stays, due now, for its
// newer reason.
func (t *Tx) FinishTask(ctx context.Context, k SyncTask) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM sync_tasks WHERE id = $1 AND generation = $2`, k.ID, k.Generation)
	if err != nil {
		return fmt.Errorf("finish sync task: %w", err)
	}
	if tag.RowsAffected() > 0 {
		_, err = t.tx.Exec(ctx, `DELETE FROM sync_queue WHERE task_id = $1`, k.ID)
	} else {
		_, err = t.tx.Exec(ctx, `UPDATE sync_tasks SET state = 1, reason = '', attempts = 0, create_started_at = NULL WHERE id = $1`, k.ID)
		if err == nil {
			_, err = t.tx.Exec(ctx, `UPDATE sync_queue SET due_at = now(), lease_until = '-infinity' WHERE task_id = $1`, k.ID)
		}
	}
	if err != nil {
		return fmt.Errorf("finish sync task: %w", err)
	}
	return nil
}

// DropTask deletes a task whatever its generation (its organization or company is gone).
func (t *Tx) DropTask(ctx context.Context, id int64) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM sync_tasks WHERE id = $1`, id); err != nil {
		return fmt.Errorf("drop sync task: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM sync_queue WHERE task_id = $1`, id); err != nil {
		return fmt.Errorf("drop sync task: %w", err)
	}
	return nil
}

// PostponeTask records a failed attempt: the task's state and reason, and when to try again.
func (t *Tx) PostponeTask(ctx context.Context, id int64, state int16, reason string, after time.Duration, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sync_tasks SET state = $2, reason = $3, attempts = attempts + 1, updated_at = $4
		WHERE id = $1`, id, state, reason, at); err != nil {
		return fmt.Errorf("postpone sync task: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `UPDATE sync_queue SET due_at = now() + $2 * interval '1 millisecond', lease_until = '-infinity'
		WHERE task_id = $1`, id, after.Milliseconds()); err != nil {
		return fmt.Errorf("postpone sync task: %w", err)
	}
	return nil
}

// AppendSyncLog records what the sync did.
func (t *Tx) AppendSyncLog(ctx context.Context, entries ...domain.SyncLogEntry) error {
	for _, e := range entries {
		if e.Fields == nil {
			e.Fields = []string{}
		}
		if _, err := t.tx.Exec(ctx, `INSERT INTO sync_log (account_id, integration_id, at, side, action, organization_id, external_id, fields, message)
			VALUES ($1, $2, $3, $4, $5, nullif($6, '')::uuid, $7, $8, $9)`,
			e.AccountID, e.IntegrationID, e.At, e.Side, e.Action, e.OrganizationID, e.ExternalID, e.Fields, e.Message); err != nil {
			return fmt.Errorf("append sync log: %w", err)
		}
	}
	return nil
}

// SyncLogFilter pages an integration's sync log, newest first.
type SyncLogFilter struct {
	OrganizationID string
	Action         string
	// BeforeID is the keyset position: the previous page's last id (0 for the first page).
	BeforeID int64
	Limit    int
}

// SyncLog lists an integration's sync log entries, newest first.
func (t *Tx) SyncLog(ctx context.Context, integrationID string, f SyncLogFilter) ([]domain.SyncLogEntry, error) {
	rows, err := t.tx.Query(ctx, `SELECT id, account_id::text, integration_id::text, at, side, action,
			coalesce(organization_id::text, ''), external_id, fields, message
		FROM sync_log WHERE integration_id = $1 AND ($2 = '' OR organization_id::text = $2) AND ($3 = '' OR action = $3)
			AND ($4 = 0 OR id < $4)
		ORDER BY id DESC LIMIT $5`, integrationID, f.OrganizationID, f.Action, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("read sync log: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[domain.SyncLogEntry])
}

// UnlinkOrganization clears a deleted organization's links and returns the companies, by
// integration.
func (t *Tx) UnlinkOrganization(ctx context.Context, organizationID string) (map[string][]string, error) {
	rows, err := t.tx.Query(ctx, `UPDATE external_organizations SET organization_id = NULL, base = NULL
		WHERE organization_id = $1 RETURNING integration_id::text, external_id`, organizationID)
	if err != nil {
		return nil, fmt.Errorf("unlink deleted organization: %w", err)
	}
	out := map[string][]string{}
	var integ, ext string
	_, err = pgx.ForEachRow(rows, []any{&integ, &ext}, func() error {
		out[integ] = append(out[integ], ext)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unlink deleted organization: %w", err)
	}
	return out, nil
}

// ForgetQueued drops a queue entry whose task is gone (system scope).
func (t *Tx) ForgetQueued(ctx context.Context, taskID int64) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM sync_queue WHERE task_id = $1`, taskID); err != nil {
		return fmt.Errorf("forget queued sync task: %w", err)
	}
	return nil
}

// RenewTaskLease extends a task's lease while its owner works on it (system scope).
func (t *Tx) RenewTaskLease(ctx context.Context, taskID int64, owner string, lease time.Duration) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sync_queue SET lease_until = now() + $3 * interval '1 millisecond'
		WHERE task_id = $1 AND lease_owner = $2 AND lease_until > now()`, taskID, owner, lease.Milliseconds()); err != nil {
		return fmt.Errorf("renew sync task lease: %w", err)
	}
	return nil
}

// WakeLicenseWaiters makes the tenant's tasks waiting for a free license due now: one may have
// freed.
func (t *Tx) WakeLicenseWaiters(ctx context.Context) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sync_queue SET due_at = now()
		WHERE task_id IN (SELECT id FROM sync_tasks WHERE state = 3)`); err != nil {
		return fmt.Errorf("wake license waiters: %w", err)
	}
	return nil
}

// TouchUnlinkedExternals gives every cached company of the integration that syncs and is linked
// to nothing a pull task (sync turned on to pull brings in what is already there).
func (t *Tx) TouchUnlinkedExternals(ctx context.Context, accountID, integrationID string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `WITH k AS (
			INSERT INTO sync_tasks (account_id, integration_id, external_id, created_at, updated_at)
			SELECT $1, $2, external_id, $3, $3 FROM external_organizations
			WHERE integration_id = $2 AND organization_id IS NULL AND state = 1 AND NOT deleted
			ON CONFLICT (integration_id, external_id) WHERE external_id IS NOT NULL
				DO UPDATE SET generation = sync_tasks.generation + 1, updated_at = excluded.updated_at
			RETURNING id)
		INSERT INTO sync_queue (task_id, account_id, due_at) SELECT id, $1, now() FROM k
		ON CONFLICT (task_id) DO NOTHING`, accountID, integrationID, at); err != nil {
		return fmt.Errorf("pull cached companies: %w", err)
	}
	return nil
}
