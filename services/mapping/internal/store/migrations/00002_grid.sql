-- +goose Up
-- What mapping keeps from other services' events, so the grid never calls them per row
-- (ARCHITECTURE.md: a service keeps its own copy of what it needs).

-- Organizations as org's events tell them: names for the grid, groups for visibility. version is
-- the grid row's version, bumped by every change to its links; a batch save names the version
-- it read.
CREATE TABLE organizations (
    account_id uuid        NOT NULL,
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    parent_id  uuid,
    group_ids  uuid[]      NOT NULL DEFAULT '{}',
    active     boolean     NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL,
    version    bigint      NOT NULL DEFAULT 0
);
CREATE INDEX organizations_by_name ON organizations (account_id, lower(name), id);
CREATE INDEX organizations_exact_name ON organizations (account_id, name);
SELECT protect_tenant_table('organizations');

-- Integrations as integration-sync's events tell them.
CREATE TABLE integrations (
    account_id uuid NOT NULL,
    id         uuid PRIMARY KEY,
    kind       text NOT NULL
);
SELECT protect_tenant_table('integrations');

-- External organizations as integration-sync's events tell them: names and states for the grid,
-- import candidates and suggestions.
CREATE TABLE external_organizations (
    account_id     uuid     NOT NULL,
    integration_id uuid     NOT NULL,
    external_id    text     NOT NULL,
    name           text     NOT NULL,
    parent_id      text     NOT NULL DEFAULT '',
    state          smallint NOT NULL,
    deleted        boolean  NOT NULL DEFAULT false,
    PRIMARY KEY (integration_id, external_id)
);
CREATE INDEX external_organizations_by_name ON external_organizations (account_id, integration_id, lower(name), external_id);
SELECT protect_tenant_table('external_organizations');

CREATE INDEX links_by_integration ON links (account_id, integration_id, organization_id);

-- "Add from IT Glue" runs: the row is the job, items are its per-item plan and outcome.
CREATE TABLE imports (
    id             uuid PRIMARY KEY,
    account_id     uuid        NOT NULL,
    integration_id uuid        NOT NULL,
    request_id     uuid        NOT NULL,
    state          smallint    NOT NULL,
    items_total    integer     NOT NULL,
    items_done     integer     NOT NULL DEFAULT 0,
    created_count  integer     NOT NULL DEFAULT 0,
    linked_count   integer     NOT NULL DEFAULT 0,
    relinked_count integer     NOT NULL DEFAULT 0,
    failed_count   integer     NOT NULL DEFAULT 0,
    error          text        NOT NULL DEFAULT '',
    created_by     text        NOT NULL,
    -- Who the import acts for: the worker calls org as this identity (acting on behalf of).
    acting_as      jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    UNIQUE (account_id, request_id)
);
SELECT protect_tenant_table('imports');

CREATE TABLE import_items (
    account_id      uuid     NOT NULL,
    import_id       uuid     NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq             integer  NOT NULL,
    external_id     text     NOT NULL,
    name            text     NOT NULL,
    -- 0 pending, then the outcome (ImportOutcome's numbers); planned is the chosen action of a
    -- chunk sent to org and not yet recorded.
    outcome         smallint NOT NULL DEFAULT 0,
    planned         smallint NOT NULL DEFAULT 0,
    chunk_request   uuid,
    organization_id uuid,
    reason          text     NOT NULL DEFAULT '',
    PRIMARY KEY (import_id, seq)
);
SELECT protect_tenant_table('import_items');

-- The work list of running imports, leased by workers (FOR UPDATE SKIP LOCKED): found before the
-- tenant is known, so outside row-level security; ids and timing only.
CREATE TABLE import_queue (
    import_id   uuid        PRIMARY KEY,
    account_id  uuid        NOT NULL,
    lease_until timestamptz NOT NULL,
    lease_owner text        NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE import_queue, import_items, imports, external_organizations, integrations, organizations;
DROP INDEX links_by_integration;
