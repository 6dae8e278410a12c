-- +goose Up
-- Accounts are the tenants themselves, not data inside one: only platform operators list them,
-- and a tenant reads its own row by id. Tables holding an account's data carry account_id and
-- row-level security (see the issues that add them).
CREATE TABLE accounts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    display_name text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 255),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_created ON accounts (created_at, id);

-- +goose Down
DROP TABLE accounts;
