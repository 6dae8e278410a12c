-- +goose Up
-- An account's connection to one tool. Credentials live in integration_credentials, sealed
-- with AES-GCM under ORGPLANE_CREDENTIAL_KEYS; nothing here is secret.
CREATE TABLE integrations (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id              uuid        NOT NULL,
    kind                    text        NOT NULL,
    display_name            text        NOT NULL,
    settings                jsonb       NOT NULL DEFAULT '{}',
    endpoint                text        NOT NULL DEFAULT '',
    state                   smallint    NOT NULL DEFAULT 1,
    state_message           text        NOT NULL DEFAULT '',
    -- NULL: the kind's documented limit.
    budget_requests         integer,
    budget_window_ms        bigint,
    budget_concurrency      integer,
    last_refresh_at         timestamptz,
    last_full_refresh_at    timestamptz,
    last_refresh_started_at timestamptz,
    created_by              text        NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    -- One per kind is what MSPs have; dropping this index is all a second instance needs.
    CONSTRAINT integrations_one_per_kind UNIQUE (account_id, kind),
    UNIQUE (account_id, id)
);
SELECT protect_tenant_table('integrations');

-- One sealed credential per row: the AAD binds it to its account, integration and name, so a
-- sealed value copied to another row does not open.
CREATE TABLE integration_credentials (
    account_id     uuid        NOT NULL,
    integration_id uuid        NOT NULL,
    name           text        NOT NULL,
    sealed         bytea       NOT NULL,
    key_id         text        NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (integration_id, name),
    FOREIGN KEY (account_id, integration_id) REFERENCES integrations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX integration_credentials_key ON integration_credentials (key_id);
SELECT protect_tenant_table('integration_credentials');

-- The cached copy of each tool's organizations.
CREATE TABLE external_organizations (
    account_id        uuid        NOT NULL,
    integration_id    uuid        NOT NULL,
    external_id       text        NOT NULL,
    name              text        NOT NULL,
    type_id           text        NOT NULL DEFAULT '',
    type_name         text        NOT NULL DEFAULT '',
    status_id         text        NOT NULL DEFAULT '',
    status_name       text        NOT NULL DEFAULT '',
    parent_id         text        NOT NULL DEFAULT '',
    active            boolean     NOT NULL,
    deleted           boolean     NOT NULL,
    vendor_updated_at timestamptz,
    last_seen_at      timestamptz NOT NULL,
    -- The full refresh that last saw it: what a full refresh did not see is gone.
    seen_by           uuid,
    state             smallint    NOT NULL,
    state_reason      text        NOT NULL DEFAULT '',
    state_at          timestamptz NOT NULL,
    state_by          text        NOT NULL,
    PRIMARY KEY (integration_id, external_id),
    FOREIGN KEY (account_id, integration_id) REFERENCES integrations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX external_organizations_by_name ON external_organizations (account_id, integration_id, lower(name), external_id);
CREATE INDEX external_organizations_orphans ON external_organizations (account_id, state_at DESC, integration_id, external_id) WHERE state = 2;
SELECT protect_tenant_table('external_organizations');

-- Refreshes, AIP-151 operations. The row is the job: its cursor is the checkpoint a restarted
-- worker resumes from.
CREATE TABLE operations (
    id               uuid PRIMARY KEY,
    account_id       uuid        NOT NULL,
    integration_id   uuid        NOT NULL,
    type             text        NOT NULL DEFAULT 'refresh',
    mode             smallint    NOT NULL,
    state            smallint    NOT NULL,
    cursor           text        NOT NULL DEFAULT '',
    since            timestamptz,
    pages_done       integer     NOT NULL DEFAULT 0,
    pages_total      integer     NOT NULL DEFAULT 0,
    items_done       integer     NOT NULL DEFAULT 0,
    items_total      integer     NOT NULL DEFAULT 0,
    created_count    integer     NOT NULL DEFAULT 0,
    changed_count    integer     NOT NULL DEFAULT 0,
    orphaned_count   integer     NOT NULL DEFAULT 0,
    unchanged_count  integer     NOT NULL DEFAULT 0,
    error_reason     text        NOT NULL DEFAULT '',
    error_message    text        NOT NULL DEFAULT '',
    created_by       text        NOT NULL,
    cancel_requested boolean     NOT NULL DEFAULT false,
    attempts         integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    FOREIGN KEY (account_id, integration_id) REFERENCES integrations (account_id, id) ON DELETE CASCADE
);
-- One refresh at a time per integration: asking again returns the running one.
CREATE UNIQUE INDEX operations_one_running ON operations (integration_id) WHERE state = 1;
CREATE INDEX operations_newest ON operations (account_id, created_at DESC, id);
SELECT protect_tenant_table('operations');

-- The work list of running operations, leased by workers with FOR UPDATE SKIP LOCKED. Like the
-- outbox it sits outside row-level security on purpose: a worker finds due work of every
-- account before it knows the tenant. Ids and timing only.
CREATE TABLE operation_queue (
    operation_id uuid        PRIMARY KEY,
    account_id   uuid        NOT NULL,
    lease_until  timestamptz NOT NULL,
    lease_owner  text        NOT NULL DEFAULT ''
);
CREATE INDEX operation_queue_due ON operation_queue (lease_until);

-- Every integration's account and refresh schedule, read by the scheduler (every account's) and
-- by webhook deliveries (which name an integration, not an account). Outside row-level security
-- for the same reason as operation_queue; ids, kind and timing only.
CREATE TABLE integration_directory (
    integration_id      uuid PRIMARY KEY,
    account_id          uuid        NOT NULL,
    next_full_at        timestamptz NOT NULL,
    next_incremental_at timestamptz NOT NULL,
    paused              boolean     NOT NULL DEFAULT false
);
CREATE INDEX integration_directory_due ON integration_directory (least(next_full_at, next_incremental_at)) WHERE NOT paused;

-- Webhook deliveries, each applied once. The row is recorded before the company is fetched and
-- marked applied in the transaction that updates the cache, so a crash in between leaves it for
-- the retry pass. Outside row-level security like operation_queue; ids and timing only.
CREATE TABLE webhook_deliveries (
    integration_id uuid        NOT NULL,
    delivery_id    text        NOT NULL,
    account_id     uuid        NOT NULL,
    company_id     text        NOT NULL,
    received_at    timestamptz NOT NULL,
    attempts       integer     NOT NULL DEFAULT 0,
    applied_at     timestamptz,
    PRIMARY KEY (integration_id, delivery_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (received_at) WHERE applied_at IS NULL;

-- +goose Down
DROP TABLE webhook_deliveries, integration_directory, operation_queue, operations, external_organizations,
    integration_credentials, integrations;
