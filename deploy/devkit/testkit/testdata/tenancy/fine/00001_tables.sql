-- +goose Up
CREATE TABLE notes (id uuid PRIMARY KEY, account_id uuid NOT NULL, body text NOT NULL);
SELECT protect_tenant_table('notes');
-- Read before the tenant is known, holding ids, digests, times and machine text only.
CREATE TABLE key_digests (digest bytea PRIMARY KEY, account_id uuid NOT NULL, key_id uuid NOT NULL);
CREATE TABLE work_queue (account_id uuid PRIMARY KEY, attempt_after timestamptz NOT NULL, attempts integer NOT NULL, last_error text);
CREATE TABLE counters (account_id uuid PRIMARY KEY, n bigint NOT NULL);

-- +goose Down
DROP TABLE notes, key_digests, work_queue, counters;
