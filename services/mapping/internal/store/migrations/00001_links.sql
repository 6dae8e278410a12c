-- +goose Up
-- A link ties an Orgplane organization to its twin in one integrated tool. Each organization has
-- at most one twin per integration, and each external organization at most one Orgplane twin.
-- Organization and integration ids are the org and integration-sync services' ids: this schema
-- keeps no foreign keys to them (a service never reads another's tables); events keep it tidy.
CREATE TABLE links (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id               uuid        NOT NULL,
    organization_id          uuid        NOT NULL,
    integration_id           uuid        NOT NULL,
    external_organization_id text        NOT NULL,
    external_name            text        NOT NULL DEFAULT '',
    method                   smallint    NOT NULL,
    created_by               text        NOT NULL,
    created_at               timestamptz NOT NULL,
    CONSTRAINT links_one_per_integration UNIQUE (account_id, organization_id, integration_id),
    CONSTRAINT links_one_twin UNIQUE (account_id, integration_id, external_organization_id)
);
SELECT protect_tenant_table('links');

-- +goose Down
DROP TABLE links;
