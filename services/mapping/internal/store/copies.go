package store

import (
	"context"
	"fmt"
	"time"
)

// OrgCopy is an organization as org's events tell it.
type OrgCopy struct {
	ID, Name, ParentID string
	GroupIDs           []string
	Active             bool
	Updated            time.Time
}

func nullUUID(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// UpsertOrganization records an organization as an event tells it; an older event than the copy
// (by its time) changes nothing.
func (t *Tx) UpsertOrganization(ctx context.Context, accountID string, o OrgCopy) error {
	if o.GroupIDs == nil {
		o.GroupIDs = []string{}
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO organizations (account_id, id, name, parent_id, group_ids, active, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id, group_ids = excluded.group_ids,
			active = excluded.active, updated_at = excluded.updated_at
		WHERE organizations.updated_at <= excluded.updated_at`,
		accountID, o.ID, o.Name, nullUUID(o.ParentID), o.GroupIDs, o.Active, o.Updated)
	if err != nil {
		return fmt.Errorf("record organization: %w", err)
	}
	return nil
}

// DeleteOrganization forgets an organization.
func (t *Tx) DeleteOrganization(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, id); err != nil {
		return fmt.Errorf("forget organization: %w", err)
	}
	return nil
}

// linkLockClass is the first key of the advisory lock LockOrganizationLinks takes; the second
// is the organization's.
const linkLockClass = 0x6d61706c // "mapl"

// LockOrganizationLinks serializes, until the transaction ends, the changes to an organization's
// links that row locks cannot: the organization's copy may not exist (not told of yet, or
// deleted), so there is no row to lock, and a link made while its organization's deletion drops
// the others would outlive it. Taken first, before any row lock.
func (t *Tx) LockOrganizationLinks(ctx context.Context, organizationID string) error {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, linkLockClass, organizationID); err != nil {
		return fmt.Errorf("lock organization links: %w", err)
	}
	return nil
}

// RememberDeleted records that org deleted an organization.
func (t *Tx) RememberDeleted(ctx context.Context, accountID, id string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO deleted_organizations (account_id, id, deleted_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, accountID, id, at); err != nil {
		return fmt.Errorf("remember deleted organization: %w", err)
	}
	return nil
}

// WasDeleted tells whether org deleted the organization.
func (t *Tx) WasDeleted(ctx context.Context, id string) (bool, error) {
	var gone bool
	if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_organizations WHERE id = $1)`, id).Scan(&gone); err != nil {
		return false, fmt.Errorf("read deleted organization: %w", err)
	}
	return gone, nil
}

// UpsertIntegration records an integration.
func (t *Tx) UpsertIntegration(ctx context.Context, accountID, id, kind string) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO integrations (account_id, id, kind) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, accountID, id, kind); err != nil {
		return fmt.Errorf("record integration: %w", err)
	}
	return nil
}

// IntegrationKind returns a known integration's kind, "" when unknown.
func (t *Tx) IntegrationKind(ctx context.Context, id string) (string, error) {
	var kind string
	err := t.tx.QueryRow(ctx, `SELECT coalesce((SELECT kind FROM integrations WHERE id = $1), '')`, id).Scan(&kind)
	if err != nil {
		return "", fmt.Errorf("read integration: %w", err)
	}
	return kind, nil
}

// DeleteIntegration forgets an integration and its external organizations.
func (t *Tx) DeleteIntegration(ctx context.Context, id string) error {
	for _, q := range []string{`DELETE FROM external_organizations WHERE integration_id = $1`, `DELETE FROM integrations WHERE id = $1`} {
		if _, err := t.tx.Exec(ctx, q, id); err != nil {
			return fmt.Errorf("forget integration: %w", err)
		}
	}
	return nil
}

// ExternalCopy is an external organization as integration-sync's events tell it.
type ExternalCopy struct {
	IntegrationID, ExternalID, Name, ParentID string
	State                                     int16
	Deleted                                   bool
}

// UpsertExternal records an external organization; the integration is recorded too (an
// external organization's event may come before its integration's).
func (t *Tx) UpsertExternal(ctx context.Context, accountID, kind string, e ExternalCopy) error {
	if err := t.UpsertIntegration(ctx, accountID, e.IntegrationID, kind); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO external_organizations (account_id, integration_id, external_id, name, parent_id, state, deleted)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (integration_id, external_id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id,
			state = excluded.state, deleted = excluded.deleted`,
		accountID, e.IntegrationID, e.ExternalID, e.Name, e.ParentID, e.State, e.Deleted)
	if err != nil {
		return fmt.Errorf("record external organization: %w", err)
	}
	// The grid shows the tool's current name on the link too.
	if _, err := t.tx.Exec(ctx, `UPDATE links SET external_name = $3 WHERE integration_id = $1 AND external_organization_id = $2
		AND external_name <> $3`, e.IntegrationID, e.ExternalID, e.Name); err != nil {
		return fmt.Errorf("rename link: %w", err)
	}
	return nil
}

// DeleteExternal forgets an external organization.
func (t *Tx) DeleteExternal(ctx context.Context, integrationID, externalID string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM external_organizations WHERE integration_id = $1 AND external_id = $2`,
		integrationID, externalID); err != nil {
		return fmt.Errorf("forget external organization: %w", err)
	}
	return nil
}
