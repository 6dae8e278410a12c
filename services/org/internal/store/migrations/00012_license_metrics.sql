-- +goose Up
-- The license-use metrics (orgplane_license_*) compare every account's use with its limit at
-- once, which the tenant policy forbids: a query sees one account or none. This second policy
-- lets a transaction that says so (set_config('app.license_metrics', 'on', true), which only
-- the metrics' query does) read account_limits across accounts, and nothing more: it applies to
-- SELECT alone, so every write still needs the tenant, and the table holds counts and flags,
-- nothing a person typed. A query that forgot its tenant still matches no row.
CREATE POLICY license_metrics ON account_limits FOR SELECT
    USING (current_setting('app.license_metrics', true) = 'on');

-- +goose Down
DROP POLICY license_metrics ON account_limits;
