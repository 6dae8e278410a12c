-- +goose Up
-- Organizations org deleted, by id only. Their copy in organizations goes with the deletion, yet
-- integration-sync's stream may still ask to link one afterwards (the two streams race), and an
-- organization mapping has no copy of may be one whose creation it was not told of yet: this is
-- what tells "gone" from "not yet known".
CREATE TABLE deleted_organizations (
    account_id uuid        NOT NULL,
    id         uuid        PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);
SELECT protect_tenant_table('deleted_organizations');

-- +goose Down
DROP TABLE deleted_organizations;
