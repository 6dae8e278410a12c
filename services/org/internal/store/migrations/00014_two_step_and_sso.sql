-- +goose Up
-- Two-step verification (TOTP, recovery codes, sign-in challenges) and single sign-on (an
-- OpenID Connect provider per account, sign-in flows), issue 18. As in 00013 nothing here is a
-- secret in clear: TOTP secrets, client secrets and PKCE verifiers are AES-256-GCM sealed under
-- ORGPLANE_CREDENTIAL_KEYS (bound to their row), recovery codes, challenge tokens, flow states
-- and browser bindings are kept only as SHA-256 digests of high-entropy random values.

-- How a session was opened (SessionMethod: 1 password, 2 password and code, 3 single sign-on,
-- 4 break-glass) and whether a second factor was proven, so a requirement turned on later
-- ends the sessions that do not meet it at their next request.
ALTER TABLE sessions
    ADD COLUMN method   smallint NOT NULL DEFAULT 1 CHECK (method BETWEEN 1 AND 4),
    ADD COLUMN two_step boolean  NOT NULL DEFAULT false;

-- A user's TOTP secret. enabled_at NULL: an enrollment started and not yet confirmed (it lapses
-- at pending_expires_at). last_step is the last 30-second step whose code was accepted: a code
-- of that step or an earlier one is a replay and is refused.
CREATE TABLE user_totp (
    account_id         uuid        NOT NULL,
    user_id            uuid        NOT NULL,
    secret_sealed      bytea       NOT NULL,
    enabled_at         timestamptz,
    pending_expires_at timestamptz,
    last_step          bigint      NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (account_id, user_id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);

-- One-time recovery codes, as SHA-256 digests of their normalized form; a used one keeps its
-- row (used_at) so "codes left" is a count.
CREATE TABLE user_recovery_codes (
    account_id uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    digest     bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (account_id, user_id, digest),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);

-- A sign-in whose password was right and that still needs a second step (kind 1: a code,
-- kind 2: enrollment). Single-use (used_at), short-lived, and ends after too many wrong codes.
CREATE TABLE sign_in_challenges (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id     uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id        uuid        NOT NULL,
    kind           smallint    NOT NULL CHECK (kind IN (1, 2)),
    break_glass    boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    failed_codes   integer     NOT NULL DEFAULT 0,
    used_at        timestamptz,
    user_agent     text        NOT NULL DEFAULT '',
    client_address text        NOT NULL DEFAULT '',
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX sign_in_challenges_expiry ON sign_in_challenges (expires_at);

-- Looked up from the challenge token alone, before the tenant is known (as session_digests).
CREATE TABLE sign_in_challenge_digests (
    digest       bytea PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    challenge_id uuid NOT NULL UNIQUE REFERENCES sign_in_challenges (id) ON DELETE CASCADE
);

-- An account's OpenID Connect identity provider.
CREATE TABLE sso_providers (
    account_id           uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    issuer               text        NOT NULL,
    client_id            text        NOT NULL,
    client_secret_sealed bytea,
    create_users         boolean     NOT NULL DEFAULT false,
    default_role_id      uuid,
    updated_at           timestamptz NOT NULL
);

-- A sign-in through the provider, from StartSingleSignOn to its callback: single-use and
-- short-lived. The state (in the provider's redirect) finds it; the browser binding (in the
-- flow cookie) must match; the nonce's digest is compared with the ID token's.
CREATE TABLE sso_flows (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id      uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    binding_digest  bytea       NOT NULL,
    nonce_digest    bytea       NOT NULL,
    verifier_sealed bytea       NOT NULL,
    return_path     text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    user_agent      text        NOT NULL DEFAULT '',
    client_address  text        NOT NULL DEFAULT '',
    UNIQUE (account_id, id)
);
CREATE INDEX sso_flows_expiry ON sso_flows (expires_at);

-- Looked up from the state alone, before the tenant is known.
CREATE TABLE sso_flow_states (
    digest     bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    flow_id    uuid NOT NULL UNIQUE REFERENCES sso_flows (id) ON DELETE CASCADE
);

SELECT protect_tenant_table('user_totp');
SELECT protect_tenant_table('user_recovery_codes');
SELECT protect_tenant_table('sign_in_challenges');
SELECT protect_tenant_table('sso_providers');
SELECT protect_tenant_table('sso_flows');

-- +goose Down
DROP TABLE sso_flow_states, sso_flows, sso_providers, sign_in_challenge_digests, sign_in_challenges,
    user_recovery_codes, user_totp;
ALTER TABLE sessions DROP COLUMN two_step, DROP COLUMN method;
