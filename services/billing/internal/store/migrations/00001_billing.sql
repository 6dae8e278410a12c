-- +goose Up
-- One subscription per account. The limit is enforced by the org service (it is checked where
-- organizations are created, in that transaction); billing owns it and asks org to apply each
-- change before recording it here.
CREATE TABLE subscriptions (
    account_id           uuid PRIMARY KEY,
    plan_name            text        NOT NULL,
    unlimited            boolean     NOT NULL DEFAULT false,
    organization_limit   integer     NOT NULL DEFAULT 0 CHECK (organization_limit >= 0),
    state                smallint    NOT NULL,
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);

CREATE TABLE license_changes (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                bigint GENERATED ALWAYS AS IDENTITY, -- orders changes made within one clock tick
    account_id         uuid        NOT NULL,
    delta              integer     NOT NULL,
    organization_limit integer     NOT NULL,
    changed_by         text        NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX license_changes_account ON license_changes (account_id, created_at DESC);

-- Active organizations as the org service's events tell them, and one row per day that saw a
-- change; a day without a row carries the previous day's count forward.
CREATE TABLE usage_counters (
    account_id uuid PRIMARY KEY,
    active     integer NOT NULL DEFAULT 0
);

CREATE TABLE daily_usage (
    account_id uuid    NOT NULL,
    day        date    NOT NULL,
    active     integer NOT NULL,
    peak       integer NOT NULL,
    PRIMARY KEY (account_id, day)
);

SELECT protect_tenant_table('subscriptions');
SELECT protect_tenant_table('license_changes');
SELECT protect_tenant_table('usage_counters');
SELECT protect_tenant_table('daily_usage');

-- +goose Down
DROP TABLE daily_usage, usage_counters, license_changes, subscriptions;
