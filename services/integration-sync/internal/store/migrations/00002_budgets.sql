-- +goose Up
-- Rate budgets: every call to an integrated tool spends from its integration's budget, shared by
-- every replica. These tables hold ids, counts and times only, and are read before any tenant is
-- known (the HTTP transport spends from them below the use cases), so they are NOT under
-- row-level security; they hold no account_id, and an integration's rows go with it (Delete).
CREATE TABLE rate_budgets (
    integration_id uuid        PRIMARY KEY,
    -- At most requests calls in any window_ms; concurrency calls in flight at once (0: no limit).
    requests       int         NOT NULL CHECK (requests > 0),
    window_ms      bigint      NOT NULL CHECK (window_ms > 0),
    concurrency    int         NOT NULL DEFAULT 0 CHECK (concurrency >= 0),
    -- No call before blocked_until (a 429's Retry-After); it only ever moves forward.
    blocked_until  timestamptz,
    -- Consecutive 401/403 answers; the transport stops calling at a threshold until reset.
    auth_failures  int         NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Spends are counted in buckets window/60 wide (at least 1 ms). A bucket counts until
-- bucket + width + window has passed, so a spend is never forgotten before its window ends (it
-- may be remembered up to one bucket longer: conservative). Old buckets are deleted when the
-- integration next spends.
CREATE TABLE rate_budget_spend (
    integration_id uuid        NOT NULL REFERENCES rate_budgets (integration_id) ON DELETE CASCADE,
    bucket         timestamptz NOT NULL,
    used           int         NOT NULL CHECK (used > 0),
    PRIMARY KEY (integration_id, bucket)
);

-- +goose Down
DROP TABLE rate_budget_spend;
DROP TABLE rate_budgets;
