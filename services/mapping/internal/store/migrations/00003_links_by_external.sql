-- +goose Up
-- "Is this external organization linked?" is asked for every candidate of an import and every
-- suggestion: one index probe each, whatever the planner's statistics say (without it, a fresh
-- cache of 10,000 was checked by a nested loop over every link, 93 s; docs/benchmarks.md).
CREATE INDEX links_by_external ON links (integration_id, external_organization_id);

-- +goose Down
DROP INDEX links_by_external;
