-- +goose Up
-- organization_search holds every account's organization names; left outside row-level
-- security, any query of the runtime role that forgot its account filter would read another
-- tenant's names. It now carries the tenant policy like every other table holding account_id.
--
-- The price: under a policy Postgres evaluates the policy before any predicate that is not
-- leakproof, and LIKE is not (nor is any operator a trigram or array index serves), so the
-- trigram index of migration 00003 can never be used by the runtime role. It is dropped rather
-- than kept up to date for nothing on every insert and rename. A search now walks the account's
-- entries of organization_search_order, which holds the lower-cased name (index-only, in name
-- order, stopping at the page size once enough rows match), and the total counts the account's
-- rows of this narrow table. An index that still works under the policy would need one row per
-- trigram and organization searched by equality (text = is leakproof): measured at ten times
-- this table's size for 50,000 organizations, so not worth it (README, "Search").
SELECT protect_tenant_table('organization_search');
DROP INDEX organization_search_trgm;

-- +goose Down
CREATE INDEX organization_search_trgm ON organization_search USING gin (name_lower gin_trgm_ops);
DROP POLICY tenant ON organization_search;
ALTER TABLE organization_search NO FORCE ROW LEVEL SECURITY;
ALTER TABLE organization_search DISABLE ROW LEVEL SECURITY;
