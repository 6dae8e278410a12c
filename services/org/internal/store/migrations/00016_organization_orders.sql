-- +goose Up
-- ListOrganizations' order_by (issue 19): by name regardless of case, by creation or by last
-- change, each ascending or descending, ties broken by id in the same direction. Each order is
-- one of these indexes, read forwards or backwards from the account's first or last entry, and
-- a later page starts where the previous one ended (the keyset compares plain columns with
-- leakproof operators, so it bounds the scan under the tenant policy; see the store).
--
-- The name order reads organization_search, whose lower-cased name is a plain column kept by its
-- trigger: an expression index on lower(organizations.name) could order the rows, but a keyset
-- on lower(name) is not leakproof and would filter instead of seek. The index replaces the one
-- by case-sensitive name, and still holds everything a search reads from this table.
DROP INDEX organization_search_order;
CREATE INDEX organization_search_order ON organization_search (account_id, name_lower, organization_id);
CREATE INDEX organizations_created ON organizations (account_id, created_at, id);
CREATE INDEX organizations_updated ON organizations (account_id, updated_at, id);
-- Nothing orders by the case-sensitive name any more; the unique (account_id, name) constraint
-- still finds a name.
DROP INDEX organizations_order;

-- +goose Down
CREATE INDEX organizations_order ON organizations (account_id, name, id);
DROP INDEX organizations_updated;
DROP INDEX organizations_created;
DROP INDEX organization_search_order;
CREATE INDEX organization_search_order ON organization_search (account_id, name, organization_id) INCLUDE (name_lower);
