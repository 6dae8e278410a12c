-- +goose Up
CREATE TABLE notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id uuid NOT NULL,
    body       text NOT NULL,
    UNIQUE (account_id, body)
);
SELECT protect_tenant_table('notes');

-- +goose Down
DROP TABLE notes;
