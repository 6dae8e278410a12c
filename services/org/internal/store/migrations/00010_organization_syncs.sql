-- +goose Up
-- Which integrations keep which organizations in sync, as integration-sync tells through its
-- organization_sync.changed events (consumer org-syncs); deleting an organization is refused
-- while it or a sub-organization has a row here. It replaces organizations.syncing_integrations,
-- a bare count that nothing but tests ever set: a count cannot say which integration syncs, so
-- it could neither take one integration's "stopped" twice without going wrong nor let an
-- integration delete what it brought in while another still syncs it. Nothing is carried over,
-- there being nothing real to carry.
CREATE TABLE organization_syncs (
    account_id      uuid NOT NULL,
    organization_id uuid NOT NULL,
    integration_id  uuid NOT NULL,
    PRIMARY KEY (organization_id, integration_id),
    FOREIGN KEY (account_id, organization_id) REFERENCES organizations (account_id, id) ON DELETE CASCADE
);
-- A deleted integration's rows go at once.
CREATE INDEX organization_syncs_integration ON organization_syncs (account_id, integration_id);
SELECT protect_tenant_table('organization_syncs');

ALTER TABLE organizations DROP COLUMN syncing_integrations;

-- +goose Down
ALTER TABLE organizations ADD COLUMN syncing_integrations integer NOT NULL DEFAULT 0;
DROP TABLE organization_syncs;
