-- +goose Up
-- Two-way PSA sync. integration-sync keeps what it needs of Orgplane's organizations (from org's
-- events), the link of each cached company (from mapping's events, or requested by the sync),
-- the values both sides agreed on at the last sync (base: what tells who changed what), the
-- tasks that push or pull one organization, and a log of what the sync did.
CREATE TABLE organizations (
    account_id uuid        NOT NULL,
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    type_id    text        NOT NULL DEFAULT '',
    status_id  text        NOT NULL DEFAULT '',
    parent_id  text        NOT NULL DEFAULT '',
    active     boolean     NOT NULL,
    -- Its groups: a group-limited caller sees its sync state only through one of them.
    group_ids  text[]      NOT NULL DEFAULT '{}',
    -- When org committed the last change applied here: an Orgplane change's time in a conflict.
    changed_at timestamptz NOT NULL
);
CREATE INDEX organizations_by_name ON organizations (account_id, name);
SELECT protect_tenant_table('organizations');

ALTER TABLE integrations
    ADD COLUMN paused        boolean NOT NULL DEFAULT false,
    ADD COLUMN sync_mappings jsonb   NOT NULL DEFAULT '{}';

ALTER TABLE external_organizations
    -- The linked organization: mapping's word (its events), or the sync's request to mapping.
    ADD COLUMN organization_id  uuid,
    -- The sync created the Orgplane organization from this company (a DELETE_DATA disconnect
    -- removes it).
    ADD COLUMN created_by_sync  boolean     NOT NULL DEFAULT false,
    -- The values of both sides at the last sync: {"org": {...}, "psa": {...}}.
    ADD COLUMN base             jsonb,
    ADD COLUMN last_sync_at     timestamptz,
    ADD COLUMN last_sync_result text        NOT NULL DEFAULT '',
    -- The organization for which organization_sync.changed last said "syncing" (NULL: none).
    ADD COLUMN syncing_org      uuid,
    -- An orphan taken off the list (ResolveOrphans DISMISS).
    ADD COLUMN dismissed_at     timestamptz;
CREATE INDEX external_organizations_by_org ON external_organizations (integration_id, organization_id) WHERE organization_id IS NOT NULL;

-- One task per organization (push, or reconcile a linked pair) or per new company (pull) and
-- integration; coalesced: a second reason bumps generation, and the worker deletes only the
-- generation it handled.
CREATE TABLE sync_tasks (
    id                bigserial   PRIMARY KEY,
    account_id        uuid        NOT NULL,
    integration_id    uuid        NOT NULL,
    organization_id   uuid,
    external_id       text,
    generation        bigint      NOT NULL DEFAULT 1,
    -- 1 pending, 2 failed and retrying, 3 waiting for a license.
    state             smallint    NOT NULL DEFAULT 1,
    reason            text        NOT NULL DEFAULT '',
    attempts          integer     NOT NULL DEFAULT 0,
    -- A create may have reached the PSA: look for it before creating again.
    create_started_at timestamptz,
    identifier        text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    FOREIGN KEY (account_id, integration_id) REFERENCES integrations (account_id, id) ON DELETE CASCADE,
    CHECK ((organization_id IS NULL) <> (external_id IS NULL))
);
CREATE UNIQUE INDEX sync_tasks_by_org ON sync_tasks (integration_id, organization_id) WHERE organization_id IS NOT NULL;
CREATE UNIQUE INDEX sync_tasks_by_external ON sync_tasks (integration_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX sync_tasks_account_org ON sync_tasks (account_id, organization_id) WHERE organization_id IS NOT NULL;
SELECT protect_tenant_table('sync_tasks');

-- The workers find due tasks here before they know the tenant (no row-level security: ids only).
CREATE TABLE sync_queue (
    task_id     bigint      PRIMARY KEY,
    account_id  uuid        NOT NULL,
    due_at      timestamptz NOT NULL,
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    lease_owner text        NOT NULL DEFAULT ''
);
CREATE INDEX sync_queue_due ON sync_queue (greatest(due_at, lease_until));

CREATE TABLE sync_log (
    id              bigserial   PRIMARY KEY,
    account_id      uuid        NOT NULL,
    integration_id  uuid        NOT NULL,
    at              timestamptz NOT NULL,
    -- 1 to the PSA, 2 from the PSA.
    side            smallint    NOT NULL,
    action          text        NOT NULL,
    organization_id uuid,
    external_id     text        NOT NULL DEFAULT '',
    fields          text[]      NOT NULL DEFAULT '{}',
    message         text        NOT NULL DEFAULT '',
    FOREIGN KEY (account_id, integration_id) REFERENCES integrations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_log_newest ON sync_log (account_id, integration_id, id DESC);
CREATE INDEX sync_log_by_org ON sync_log (account_id, integration_id, organization_id, id DESC);
SELECT protect_tenant_table('sync_log');

-- +goose Down
DROP TABLE sync_log, sync_queue, sync_tasks, organizations;
ALTER TABLE external_organizations DROP COLUMN organization_id, DROP COLUMN created_by_sync, DROP COLUMN base,
    DROP COLUMN last_sync_at, DROP COLUMN last_sync_result, DROP COLUMN syncing_org, DROP COLUMN dismissed_at;
ALTER TABLE integrations DROP COLUMN paused, DROP COLUMN sync_mappings;
