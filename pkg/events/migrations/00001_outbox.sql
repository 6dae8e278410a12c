-- +goose Up
-- The outbox and the consumer ledger live in every service's own schema (search_path), so an
-- event commits in the same transaction as the change that caused it, and a consumer's
-- "already handled" mark commits with the effect of handling it. Neither table holds tenant data
-- that a user reads, so neither is under row-level security; the runtime role reaches them only
-- through this package.
CREATE TABLE outbox (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    subject    text        NOT NULL,
    account_id uuid,
    payload    bytea       NOT NULL,
    headers    jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at commit and collapsed per transaction: one wake-up however many rows.
    PERFORM pg_notify('orgplane_outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- +goose Down
DROP TABLE processed_events;
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP TABLE outbox;
