-- +goose Up
-- The notification service: what it knows of accounts, users and reviews (from org's events),
-- the account's settings and each user's preferences, the in-app feed, and every delivery (an
-- email's queue entry and its record at once).

-- From org's account.created / account_settings.updated.
CREATE TABLE accounts (
    account_id                     uuid PRIMARY KEY,
    display_name                   text        NOT NULL DEFAULT '',
    time_zone                      text        NOT NULL DEFAULT 'UTC',
    -- org's DateFormat enum value (0: the default).
    date_format                    smallint    NOT NULL DEFAULT 0,
    -- org's account settings "assign ownership" / "assign reviews" users.
    ownership_recipient_ids        uuid[]      NOT NULL DEFAULT '{}',
    review_recipient_ids           uuid[]      NOT NULL DEFAULT '{}',
    updated_at                     timestamptz NOT NULL
);
SELECT protect_tenant_table('accounts');

-- From org's user.created / user.updated.
CREATE TABLE users (
    account_id    uuid        NOT NULL,
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL,
    first_name    text        NOT NULL DEFAULT '',
    last_name     text        NOT NULL DEFAULT '',
    active        boolean     NOT NULL,
    administrator boolean     NOT NULL DEFAULT false,
    -- Group visibility: a user restricted to groups hears only of organizations in them.
    all_organizations boolean NOT NULL DEFAULT true,
    group_ids     uuid[]      NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL
);
CREATE INDEX users_admins ON users (account_id) WHERE administrator AND active;
SELECT protect_tenant_table('users');

-- From org's review.created / review.owner_changed: what a reminder needs.
CREATE TABLE reviews (
    account_id        uuid        NOT NULL,
    id                uuid        PRIMARY KEY,
    organization_id   uuid        NOT NULL,
    organization_name text        NOT NULL DEFAULT '',
    -- The organization's groups, for the recipients' group visibility.
    organization_group_ids uuid[] NOT NULL DEFAULT '{}',
    title             text        NOT NULL DEFAULT '',
    engineer_id       uuid,
    vcio_id           uuid,
    -- The last change anyone made to it that Orgplane heard of.
    edited_at         timestamptz NOT NULL,
    -- The quiet period a reminder was last sent for (edited_at at that time).
    reminded_for      timestamptz
);
CREATE INDEX reviews_organization ON reviews (organization_id);
SELECT protect_tenant_table('reviews');

-- When each review falls quiet, for the reminder workers, which find due reviews before they know
-- the tenant (ids and timing only). A row leaves when its reminder is written; an edit puts it back.
CREATE TABLE reminder_queue (
    review_id  uuid PRIMARY KEY,
    account_id uuid        NOT NULL,
    due_at     timestamptz NOT NULL
);
CREATE INDEX reminder_queue_due ON reminder_queue (due_at);

-- The account's notification settings (NotificationSettings), one row per account.
CREATE TABLE settings (
    account_id          uuid PRIMARY KEY,
    -- {"ownershipChanged": {"userIds": [...], "addresses": [...]}, "reviewCreated": ..., "integrationTrouble": ...}
    recipients          jsonb       NOT NULL DEFAULT '{}',
    reminder_quiet_days integer     NOT NULL DEFAULT 0,
    hourly_email_cap    integer     NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL
);
SELECT protect_tenant_table('settings');

-- A user's preference for a kind; no row: on for every channel.
CREATE TABLE preferences (
    account_id uuid     NOT NULL,
    user_id    uuid     NOT NULL,
    kind       smallint NOT NULL,
    email      boolean  NOT NULL,
    in_app     boolean  NOT NULL,
    PRIMARY KEY (user_id, kind)
);
SELECT protect_tenant_table('preferences');

-- The in-app feed.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    account_id      uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    kind            smallint    NOT NULL,
    event_id        text        NOT NULL,
    title           text        NOT NULL,
    body            text        NOT NULL DEFAULT '',
    link            text        NOT NULL DEFAULT '',
    review_id       uuid,
    organization_id uuid,
    created_at      timestamptz NOT NULL,
    read_at         timestamptz,
    -- One entry per event, kind and user, however often the event is delivered.
    UNIQUE (event_id, kind, user_id)
);
CREATE INDEX notifications_feed ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
SELECT protect_tenant_table('notifications');

-- Every delivery: an email waiting, sent, failed or skipped, or an in-app entry recorded. An
-- email's rendered message is kept until it is sent, so a retry sends what the event said.
CREATE TABLE deliveries (
    id          uuid PRIMARY KEY,
    account_id  uuid        NOT NULL,
    event_id    text        NOT NULL,
    kind        smallint    NOT NULL,
    -- 1 email, 2 in-app.
    channel     smallint    NOT NULL,
    user_id     uuid,
    address     text        NOT NULL DEFAULT '',
    -- Who it is for, one spelling per person: "user:<id>", or "address:<lower-case address>".
    recipient   text        NOT NULL,
    subject     text        NOT NULL DEFAULT '',
    text_body   text        NOT NULL DEFAULT '',
    html_body   text        NOT NULL DEFAULT '',
    -- The one-click unsubscribe URL (List-Unsubscribe); empty for plain addresses.
    unsubscribe_url text    NOT NULL DEFAULT '',
    -- 1 pending, 2 sent, 3 failed, 4 skipped.
    status      smallint    NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    error       text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz,
    -- One delivery per event, kind, channel and recipient, however often the event is delivered.
    UNIQUE (event_id, kind, channel, recipient)
);
CREATE INDEX deliveries_newest ON deliveries (account_id, created_at DESC, id DESC);
CREATE INDEX deliveries_by_status ON deliveries (account_id, status, created_at DESC, id DESC);
-- The hourly cap counts the emails an account sent or has waiting.
CREATE INDEX deliveries_recent_email ON deliveries (account_id, created_at) WHERE channel = 1 AND status IN (1, 2);
SELECT protect_tenant_table('deliveries');

-- The email workers find due sends here before they know the tenant (ids and timing only).
CREATE TABLE send_queue (
    delivery_id uuid PRIMARY KEY,
    account_id  uuid        NOT NULL,
    due_at      timestamptz NOT NULL,
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    lease_owner text        NOT NULL DEFAULT ''
);
CREATE INDEX send_queue_due ON send_queue (greatest(due_at, lease_until));

-- Integration trouble waiting to be told, batched into one email per account and period.
CREATE TABLE trouble (
    id             bigserial PRIMARY KEY,
    account_id     uuid        NOT NULL,
    event_id       text        NOT NULL UNIQUE,
    integration_id uuid,
    -- credentials_rejected, refresh_failed, orphaned, sync_failed.
    what           text        NOT NULL,
    -- A name or the tool's words, for the digest's list.
    detail         text        NOT NULL DEFAULT '',
    at             timestamptz NOT NULL,
    -- The digest that told it (NULL: not yet told).
    digest_id      uuid
);
CREATE INDEX trouble_untold ON trouble (account_id, at) WHERE digest_id IS NULL;
SELECT protect_tenant_table('trouble');

-- When each account's next trouble digest is due, for the digest workers, which find due accounts
-- before they know the tenant (ids and timing only). due_at NULL: nothing waits.
CREATE TABLE digest_queue (
    account_id   uuid PRIMARY KEY,
    due_at       timestamptz,
    last_sent_at timestamptz
);
CREATE INDEX digest_queue_due ON digest_queue (due_at) WHERE due_at IS NOT NULL;

-- +goose Down
DROP TABLE digest_queue, trouble, reminder_queue, send_queue, deliveries, notifications, preferences, settings, reviews, users, accounts;
