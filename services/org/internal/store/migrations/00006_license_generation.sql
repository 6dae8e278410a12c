-- +goose Up
-- The generation of the last limit billing applied (its sequence number per account). Billing
-- applies each change after its own commit and retries it until it hears back, so a change can
-- arrive twice or late; one whose generation is not above this one changes nothing.
ALTER TABLE account_limits ADD COLUMN generation bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE account_limits DROP COLUMN generation;
