-- +goose Up
-- Active organizations per account, kept in the same transactions that change them, so the
-- license check and the usage figure read one locked row instead of counting every time (a
-- count over 50,000 organizations made each create pay a sequential scan).
ALTER TABLE account_limits ADD COLUMN active_count integer NOT NULL DEFAULT 0 CHECK (active_count >= 0);
UPDATE account_limits l SET active_count = (SELECT count(*) FROM organizations o WHERE o.account_id = l.account_id AND o.active);

-- +goose Down
ALTER TABLE account_limits DROP COLUMN active_count;
