-- +goose Up
-- Sign-in for people (issue 18): passwords, sessions, invitation and reset links, throttling.
-- Nothing here holds a secret in clear: passwords are argon2id PHC strings (salted, slow),
-- session and link tokens are 256 random bits kept only as SHA-256 digests, and an email is
-- looked up by the digest of its normalized form.

-- A user's password, as an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
-- No row: the user has no password yet (never invited, or invited and not yet accepted).
CREATE TABLE user_passwords (
    account_id uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    hash       text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, user_id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);

-- A signed-in browser or device. The session ends when revoked, when unused for the idle
-- timeout (last_used_at + ORGPLANE_SESSION_IDLE_TIMEOUT, read at each use so a shorter setting
-- applies at once) or at expires_at (created_at + ORGPLANE_SESSION_MAX_AGE, whatever its use).
CREATE TABLE sessions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id     uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id        uuid        NOT NULL,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    user_agent     text        NOT NULL DEFAULT '',
    client_address text        NOT NULL DEFAULT '',
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (account_id, user_id, last_used_at DESC, id DESC);

-- Authentication starts from the cookie alone, before the tenant is known, as API keys do
-- (api_key_digests). Only SHA-256 digests of 256-bit random tokens; the row goes when the
-- session is closed.
CREATE TABLE session_digests (
    digest     bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id uuid NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE
);

-- Invitations (kind 1) and password resets (kind 2): single-use, expiring links that set a
-- password. closed_at marks one replaced by a newer link of the same kind for the same user.
CREATE TABLE sign_in_links (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL,
    kind       smallint    NOT NULL CHECK (kind IN (1, 2)),
    -- Who asked for it: a user id, or "operator:<id>" / "api_key:<id>" (identity.Actor); empty
    -- for a reset the person asked for themselves.
    created_by text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    closed_at  timestamptz,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX sign_in_links_user ON sign_in_links (account_id, user_id, kind, created_at DESC);
-- One pending link of each kind per user: a new one closes the old in the same transaction.
CREATE UNIQUE INDEX sign_in_links_pending ON sign_in_links (account_id, user_id, kind)
    WHERE used_at IS NULL AND closed_at IS NULL;

-- The digest of a link's current token (the notification service asks for a new token when it
-- sends the email; issuing again replaces the digest). Looked up from the token alone, before
-- the tenant is known.
CREATE TABLE sign_in_link_digests (
    digest     bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    link_id    uuid NOT NULL UNIQUE REFERENCES sign_in_links (id) ON DELETE CASCADE
);

-- Sign-in and reset requests name an email, not an account: SHA-256 of the email normalized
-- (trimmed, lower-cased, NFC; domain.EmailDigest) to the users that have it, one row per user,
-- kept in step by the store whenever a user is created or its email changes.
CREATE TABLE user_email_digests (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    account_id uuid  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    digest     bytea NOT NULL
);
CREATE INDEX user_email_digests_digest ON user_email_digests (digest);

-- Failed sign-ins in the throttling window. key is SHA-256 of "email\x00"+normalized email or
-- "address\x00"+client address: nothing typed is kept. An attempt is written as a failure before
-- its password is checked (so parallel guesses all count) and removed when it succeeds.
CREATE TABLE sign_in_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key       bytea       NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (key, failed_at);
CREATE INDEX sign_in_failures_time ON sign_in_failures (failed_at);

SELECT protect_tenant_table('user_passwords');
SELECT protect_tenant_table('sessions');
SELECT protect_tenant_table('sign_in_links');

-- Existing users get their email lookup. lower(normalize(btrim())) is domain.EmailDigest's
-- normalization for every address Postgres lower-cases like Go (all ASCII ones); inviting a user
-- rewrites the row from Go, so an address this backfill got wrong is right before its owner
-- can have a password. The loop sets each account's scope, as 00007's backfill explains.
-- +goose StatementBegin
DO $$
DECLARE
    a uuid;
BEGIN
    FOR a IN SELECT id FROM accounts LOOP
        PERFORM set_config('app.account_id', a::text, true);
        INSERT INTO user_email_digests (user_id, account_id, digest)
        SELECT id, account_id, sha256(convert_to(lower(normalize(btrim(email), NFC)), 'UTF8')) FROM users;
    END LOOP;
    PERFORM set_config('app.account_id', '', true);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE sign_in_failures, user_email_digests, sign_in_link_digests, sign_in_links,
    session_digests, sessions, user_passwords;
