package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Single sign-on's SQL. sso_flow_states is read before the tenant is known and holds only
// digests and ids; providers and flows are under row-level security.

// SSOProviderRecord is the account's provider with its sealed client secret (nil: none).
type SSOProviderRecord struct {
	Provider     domain.SSOProvider
	SecretSealed []byte
}

// SSOProvider reads the account's provider; domain.ErrSSOProviderNotFound when it has none.
func (t *Tx) SSOProvider(ctx context.Context) (SSOProviderRecord, error) {
	var r SSOProviderRecord
	p := &r.Provider
	var role *string
	err := t.tx.QueryRow(ctx, `SELECT account_id::text, issuer, client_id, client_secret_sealed, create_users,
			default_role_id::text, updated_at FROM sso_providers`).
		Scan(&p.AccountID, &p.Issuer, &p.ClientID, &r.SecretSealed, &p.CreateUsers, &role, &p.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return SSOProviderRecord{}, domain.ErrSSOProviderNotFound
	}
	if role != nil {
		p.DefaultRoleID = *role
	}
	p.HasClientSecret = len(r.SecretSealed) > 0
	return r, err
}

// SaveSSOProvider sets the account's provider to c at at. secretSealed replaces the stored
// client secret; nil keeps it.
func (t *Tx) SaveSSOProvider(ctx context.Context, accountID string, c domain.SSOProviderChange, secretSealed []byte, at time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO sso_providers AS p (account_id, issuer, client_id, client_secret_sealed, create_users,
			default_role_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
			client_secret_sealed = coalesce(excluded.client_secret_sealed, p.client_secret_sealed),
			create_users = excluded.create_users, default_role_id = excluded.default_role_id, updated_at = excluded.updated_at`,
		accountID, c.Issuer, c.ClientID, secretSealed, c.CreateUsers, nullable(c.DefaultRoleID), at)
	return err
}

// DeleteSSOProvider removes the account's provider (and, with it, its sign-ins under way);
// false when it had none.
func (t *Tx) DeleteSSOProvider(ctx context.Context) (bool, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM sso_providers`)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	// A flow outlives no provider: its callback would find nothing to redeem the code with.
	_, err = t.tx.Exec(ctx, `DELETE FROM sso_flows`)
	return true, err
}

// LockSingleSignOnRequirement locks the account's settings row until the transaction ends and
// says whether the account requires single sign-on. Removing the provider and requiring single
// sign-on both take this lock first, so neither decides on what the other is changing.
func (t *Tx) LockSingleSignOnRequirement(ctx context.Context) (bool, error) {
	var required bool
	err := t.tx.QueryRow(ctx, `SELECT require_single_sign_on FROM account_settings FOR UPDATE`).Scan(&required)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, domain.ErrAccountNotFound
	}
	return required, err
}

// HasSSOProvider reports whether the account has a provider.
func (t *Tx) HasSSOProvider(ctx context.Context) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sso_providers)`).Scan(&ok)
	return ok, err
}

// InsertSSOFlow stores flow f, findable by its state's digest.
func (t *Tx) InsertSSOFlow(ctx context.Context, f domain.SSOFlow, stateDigest []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO sso_flows (id, account_id, binding_digest, nonce_digest, verifier_sealed, return_path,
			created_at, expires_at, user_agent, client_address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		f.ID, f.AccountID, f.BindingDigest, f.NonceDigest, f.VerifierSealed, f.ReturnPath, f.Created, f.Expires,
		f.Client.UserAgent, f.Client.Address)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO sso_flow_states (digest, account_id, flow_id) VALUES ($1, $2, $3)`, stateDigest, f.AccountID, f.ID)
	return err
}

// DeleteEndedSSOFlows removes the account's flows that ended before before, so the table stays
// as small as the sign-ins under way without a job of its own.
func (t *Tx) DeleteEndedSSOFlows(ctx context.Context, before time.Time) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM sso_flows WHERE expires_at < $1`, before)
	return err
}

// SSOFlowByState finds the account and id of the flow whose state has digest; ok is false when
// none has (never one, or used up).
func (s *Store) SSOFlowByState(ctx context.Context, digest []byte) (accountID, flowID string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT account_id::text, flow_id::text FROM sso_flow_states WHERE digest = $1`, digest).
		Scan(&accountID, &flowID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	return accountID, flowID, err == nil, err
}

// SSOFlowForUpdate reads flow id, locked until the transaction ends; ok is false when there is
// none.
func (t *Tx) SSOFlowForUpdate(ctx context.Context, id string) (f domain.SSOFlow, ok bool, err error) {
	var used *time.Time
	err = t.tx.QueryRow(ctx, `SELECT id::text, account_id::text, binding_digest, nonce_digest, verifier_sealed, return_path,
			created_at, expires_at, used_at, user_agent, client_address FROM sso_flows WHERE id = $1::uuid FOR UPDATE`, id).
		Scan(&f.ID, &f.AccountID, &f.BindingDigest, &f.NonceDigest, &f.VerifierSealed, &f.ReturnPath, &f.Created, &f.Expires,
			&used, &f.Client.UserAgent, &f.Client.Address)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.SSOFlow{}, false, nil
	}
	if used != nil {
		f.Used = *used
	}
	return f, err == nil, err
}

// UseSSOFlow marks the flow used at at and forgets its state, so the state finds nothing again.
func (t *Tx) UseSSOFlow(ctx context.Context, id string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE sso_flows SET used_at = $2 WHERE id = $1 AND used_at IS NULL`, id, at); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `DELETE FROM sso_flow_states WHERE flow_id = $1`, id)
	return err
}

// UserByEmail finds the account's user whose normalized email has digest, an active one first
// should two emails normalize alike; ok is false when there is none.
func (t *Tx) UserByEmail(ctx context.Context, accountID string, digest []byte) (u domain.User, ok bool, err error) {
	var id string
	err = t.tx.QueryRow(ctx, `SELECT d.user_id::text FROM user_email_digests d JOIN users u ON u.id = d.user_id
		WHERE d.digest = $1 AND d.account_id = $2 ORDER BY u.active DESC, u.created_at, u.id LIMIT 1`, digest, accountID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.User{}, false, nil
	}
	if err != nil {
		return domain.User{}, false, err
	}
	u, err = t.User(ctx, id)
	return u, err == nil, err
}

// ResealClientSecret replaces the provider's sealed client secret old with sealed (the same
// secret under another key), unless it changed meanwhile; it reports whether it did.
func (t *Tx) ResealClientSecret(ctx context.Context, old, sealed []byte) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE sso_providers SET client_secret_sealed = $2 WHERE client_secret_sealed = $1`, old, sealed)
	return tag.RowsAffected() == 1, err
}

// SealedVerifiers reads up to limit of the account's flows' sealed PKCE verifiers, by flow id
// after afterFlowID ("" from the first).
func (t *Tx) SealedVerifiers(ctx context.Context, afterFlowID string, limit int) ([]Sealed, error) {
	rows, err := t.tx.Query(ctx, `SELECT id::text, verifier_sealed FROM sso_flows
		WHERE $1 = '' OR id > nullif($1, '')::uuid ORDER BY id LIMIT $2`, afterFlowID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Sealed])
}

// ResealVerifier replaces flow id's sealed verifier old with sealed, unless it changed
// meanwhile; it reports whether it did.
func (t *Tx) ResealVerifier(ctx context.Context, id string, old, sealed []byte) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE sso_flows SET verifier_sealed = $3 WHERE id = $1::uuid AND verifier_sealed = $2`, id, old, sealed)
	return tag.RowsAffected() == 1, err
}
