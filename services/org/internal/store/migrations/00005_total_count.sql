-- +goose Up
-- All organizations per account (active or not), kept with active_count, so an unfiltered list
-- reports its total without counting the account's organizations on every page.
ALTER TABLE account_limits ADD COLUMN total_count integer NOT NULL DEFAULT 0 CHECK (total_count >= 0);
UPDATE account_limits l SET total_count = (SELECT count(*) FROM organizations o WHERE o.account_id = l.account_id);

-- +goose Down
ALTER TABLE account_limits DROP COLUMN total_count;
