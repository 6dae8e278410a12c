-- +goose Up
-- A license change decided here and not yet confirmed by the org service (README: "No remote
-- call inside a transaction"). It is written in the transaction that decides the change and
-- applied to org after that commit; the subscription, the license change and the event are
-- recorded only once org has applied it. generation orders an account's changes (org ignores
-- one it has already applied), and an account has at most one pending intent.
CREATE TABLE license_intents (
    account_id           uuid        NOT NULL,
    generation           bigint      NOT NULL CHECK (generation > 0),
    kind                 text        NOT NULL,
    status               text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
    plan_name            text        NOT NULL,
    unlimited            boolean     NOT NULL,
    organization_limit   integer     NOT NULL CHECK (organization_limit >= 0),
    state                smallint    NOT NULL,
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL,
    delta                integer     NOT NULL,
    changed_by           text        NOT NULL,
    refusal              text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    resolved_at          timestamptz,
    PRIMARY KEY (account_id, generation)
);
CREATE UNIQUE INDEX license_intents_one_pending ON license_intents (account_id) WHERE status = 'pending';
SELECT protect_tenant_table('license_intents');

-- The work list of pending intents: one row per account with a pending intent, claimed by the
-- intent worker with FOR UPDATE SKIP LOCKED and leased until attempt_after. Like the outbox it
-- sits outside row-level security on purpose: the worker must find due intents of every account
-- before it knows which tenant to act as. It holds ids and timing only.
CREATE TABLE license_intent_queue (
    account_id    uuid        PRIMARY KEY,
    generation    bigint      NOT NULL,
    attempt_after timestamptz NOT NULL,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX license_intent_queue_due ON license_intent_queue (attempt_after);

-- +goose Down
DROP TABLE license_intent_queue, license_intents;
