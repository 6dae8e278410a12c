-- +goose Up
-- A PSA integration's sync direction (1 off, 2 from the PSA, 3 two-way) and scope (which types
-- and statuses sync; empty lists admit all).
ALTER TABLE integrations
    ADD COLUMN sync_direction  smallint    NOT NULL DEFAULT 1,
    ADD COLUMN sync_scope      jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN sync_updated_at timestamptz;

-- +goose Down
ALTER TABLE integrations DROP COLUMN sync_direction, DROP COLUMN sync_scope, DROP COLUMN sync_updated_at;
