-- +goose Up
CREATE TABLE notes (id uuid PRIMARY KEY, account_id uuid NOT NULL, body text NOT NULL);
SELECT protect_tenant_table('notes');
-- Copies of what people typed, kept outside the policy for speed: never excusable.
CREATE TABLE name_copy (organization_id uuid PRIMARY KEY, account_id uuid NOT NULL, name text NOT NULL, name_lower text NOT NULL);
CREATE TABLE body_index (id uuid PRIMARY KEY, account_id uuid NOT NULL, body text NOT NULL);
CREATE INDEX body_index_search ON body_index USING gin (to_tsvector('simple', body));

-- +goose Down
DROP TABLE notes, name_copy, body_index;
