package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// SealedCredential is one credential as stored: sealed, with the key that sealed it.
type SealedCredential struct {
	Name    string
	Sealed  []byte
	KeyID   string
	Updated time.Time
}

// PutCredential stores (or replaces) one sealed credential of an integration.
func (t *Tx) PutCredential(ctx context.Context, accountID, integrationID string, c SealedCredential) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO integration_credentials (account_id, integration_id, name, sealed, key_id, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (integration_id, name) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id, updated_at = excluded.updated_at`,
		accountID, integrationID, c.Name, c.Sealed, c.KeyID, c.Updated)
	if err != nil {
		return fmt.Errorf("store credential: %w", err)
	}
	return nil
}

// DeleteCredentials removes an integration's credentials not in keep.
func (t *Tx) DeleteCredentials(ctx context.Context, integrationID string, keep []string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM integration_credentials WHERE integration_id = $1 AND NOT (name = ANY($2))`,
		integrationID, keep); err != nil {
		return fmt.Errorf("delete credentials: %w", err)
	}
	return nil
}

// Credentials reads an integration's sealed credentials.
func (t *Tx) Credentials(ctx context.Context, integrationID string) ([]SealedCredential, error) {
	rows, err := t.tx.Query(ctx, `SELECT name, sealed, key_id, updated_at FROM integration_credentials
		WHERE integration_id = $1 ORDER BY name`, integrationID)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SealedCredential])
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	return out, nil
}

// CredentialStatus says which credentials an integration has, never their values.
func (t *Tx) CredentialStatus(ctx context.Context, integrationID string) ([]domain.CredentialStatus, error) {
	rows, err := t.tx.Query(ctx, `SELECT name, true, updated_at FROM integration_credentials
		WHERE integration_id = $1 ORDER BY name`, integrationID)
	if err != nil {
		return nil, fmt.Errorf("read credential status: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[domain.CredentialStatus])
	if err != nil {
		return nil, fmt.Errorf("read credential status: %w", err)
	}
	return out, nil
}

// CredentialRow is one sealed credential of any account, for the rotate command.
type CredentialRow struct {
	AccountID, IntegrationID string
	SealedCredential
}

// CredentialsNotSealedWith lists up to limit credentials of every account not sealed with
// keyID (system scope: the rotate command re-seals them tenant by tenant).
func (t *Tx) CredentialsNotSealedWith(ctx context.Context, keyID string, limit int) ([]CredentialRow, error) {
	rows, err := t.tx.Query(ctx, `SELECT account_id::text, integration_id::text, name, sealed, key_id, updated_at
		FROM integration_credentials WHERE key_id <> $1 ORDER BY integration_id, name LIMIT $2`, keyID, limit)
	if err != nil {
		return nil, fmt.Errorf("list credentials to rotate: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CredentialRow, error) {
		var c CredentialRow
		err := r.Scan(&c.AccountID, &c.IntegrationID, &c.Name, &c.Sealed, &c.KeyID, &c.Updated)
		return c, err
	})
}

// Reseal replaces a credential's sealed value if it is still sealed with oldKeyID; it reports
// whether it did.
func (t *Tx) Reseal(ctx context.Context, integrationID, name, oldKeyID string, sealed []byte, keyID string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE integration_credentials SET sealed = $4, key_id = $5
		WHERE integration_id = $1 AND name = $2 AND key_id = $3`, integrationID, name, oldKeyID, sealed, keyID)
	if err != nil {
		return false, fmt.Errorf("reseal credential: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
