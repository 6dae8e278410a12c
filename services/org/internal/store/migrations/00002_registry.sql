-- +goose Up
-- Everything below belongs to one account: every table carries account_id and is under
-- row-level security keyed on the transaction-local app.account_id (see pkg/postgres).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE account_settings (
    account_id                    uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    company_name                  text        NOT NULL DEFAULT '',
    date_format                   smallint    NOT NULL DEFAULT 1,
    time_zone                     text        NOT NULL DEFAULT 'UTC',
    currency                      text        NOT NULL DEFAULT 'USD',
    alignment_report_title        text        NOT NULL DEFAULT 'Alignment Report',
    require_single_sign_on        boolean     NOT NULL DEFAULT false,
    require_two_step_verification boolean     NOT NULL DEFAULT false,
    assign_ownership_recipient_ids uuid[]     NOT NULL DEFAULT '{}',
    assign_reviews_recipient_ids  uuid[]      NOT NULL DEFAULT '{}',
    updated_at                    timestamptz NOT NULL DEFAULT now()
);

-- The license limit billing publishes (subscription.changed); NULL means unlimited. Creating or
-- reactivating an organization locks this row, so the count-and-compare is exact under
-- concurrency.
CREATE TABLE account_limits (
    account_id         uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    organization_limit integer CHECK (organization_limit >= 0),
    writable           boolean NOT NULL DEFAULT true
);

CREATE TABLE roles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id  uuid     NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        text     NOT NULL,
    builtin     smallint NOT NULL DEFAULT 0,
    permissions jsonb    NOT NULL,
    UNIQUE (account_id, id)
);
CREATE UNIQUE INDEX roles_name ON roles (account_id, lower(name));

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id        uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    first_name        text        NOT NULL,
    last_name         text        NOT NULL,
    email             text        NOT NULL,
    role_id           uuid        NOT NULL,
    active            boolean     NOT NULL DEFAULT true,
    all_organizations boolean     NOT NULL DEFAULT true,
    email_review_assigned boolean NOT NULL DEFAULT true,
    email_review_created  boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, role_id) REFERENCES roles (account_id, id)
);
CREATE UNIQUE INDEX users_email ON users (account_id, lower(email));

CREATE TABLE groups (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       text    NOT NULL,
    color      text    NOT NULL,
    archived   boolean NOT NULL DEFAULT false,
    UNIQUE (account_id, id),
    UNIQUE (account_id, name)
);

CREATE TABLE user_groups (
    account_id uuid NOT NULL,
    user_id    uuid NOT NULL,
    group_id   uuid NOT NULL,
    PRIMARY KEY (account_id, user_id, group_id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, group_id) REFERENCES groups (account_id, id) ON DELETE CASCADE
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id   uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    role_id      uuid        NOT NULL,
    user_id      uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    FOREIGN KEY (account_id, role_id) REFERENCES roles (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id)
);

-- Authentication starts from a key alone, before the tenant is known, so the hash-to-account
-- lookup lives outside row-level security. It holds no secret: only SHA-256 digests of
-- 256-bit random keys.
CREATE TABLE api_key_digests (
    digest     bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE
);

CREATE TABLE organization_types (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       text NOT NULL,
    UNIQUE (account_id, id),
    UNIQUE (account_id, name)
);

CREATE TABLE organization_statuses (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       text NOT NULL,
    UNIQUE (account_id, id),
    UNIQUE (account_id, name)
);

CREATE TABLE organizations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id          uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                text        NOT NULL,
    type_id             uuid,
    status_id           uuid,
    parent_id           uuid,
    default_engineer_id uuid,
    default_vcio_id     uuid,
    notes               text        NOT NULL DEFAULT '',
    active              boolean     NOT NULL DEFAULT true,
    deactivated_at      timestamptz,
    -- How many integrations keep this organization in sync; maintained from integration-sync's
    -- events. Deleting is refused while it is above zero.
    syncing_integrations integer    NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, id),
    -- Case-sensitive on purpose: the IT Glue import matches names case-sensitively.
    UNIQUE (account_id, name),
    FOREIGN KEY (account_id, type_id) REFERENCES organization_types (account_id, id),
    FOREIGN KEY (account_id, status_id) REFERENCES organization_statuses (account_id, id),
    FOREIGN KEY (account_id, parent_id) REFERENCES organizations (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, default_engineer_id) REFERENCES users (account_id, id),
    FOREIGN KEY (account_id, default_vcio_id) REFERENCES users (account_id, id)
);
-- "As you type" search: trigram index on the lower-cased name serves LIKE '%q%'.
CREATE INDEX organizations_name_trgm ON organizations USING gin (lower(name) gin_trgm_ops);
CREATE INDEX organizations_order ON organizations (account_id, name, id);
CREATE INDEX organizations_parent ON organizations (account_id, parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX organizations_active ON organizations (account_id) WHERE active;

CREATE TABLE organization_groups (
    account_id      uuid NOT NULL,
    organization_id uuid NOT NULL,
    group_id        uuid NOT NULL,
    PRIMARY KEY (account_id, organization_id, group_id),
    FOREIGN KEY (account_id, organization_id) REFERENCES organizations (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, group_id) REFERENCES groups (account_id, id) ON DELETE CASCADE
);
CREATE INDEX organization_groups_group ON organization_groups (account_id, group_id, organization_id);

CREATE TABLE reviews (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id        uuid        NOT NULL,
    organization_id   uuid        NOT NULL,
    title             text        NOT NULL,
    engineer_id       uuid,
    engineer_due_date date,
    vcio_id           uuid,
    vcio_due_date     date,
    status            smallint    NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (account_id, organization_id) REFERENCES organizations (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, engineer_id) REFERENCES users (account_id, id),
    FOREIGN KEY (account_id, vcio_id) REFERENCES users (account_id, id)
);
CREATE INDEX reviews_org ON reviews (account_id, organization_id);
CREATE INDEX reviews_order ON reviews (account_id, created_at DESC, id DESC);

-- Logos of the account (organization_id NULL) and of organizations.
CREATE TABLE logos (
    account_id      uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    organization_id uuid,
    content_type    text        NOT NULL,
    data            bytea       NOT NULL,
    sha256          text        NOT NULL,
    width           integer     NOT NULL,
    height          integer     NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (account_id, organization_id) REFERENCES organizations (account_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX logos_owner ON logos (account_id, coalesce(organization_id, '00000000-0000-0000-0000-000000000000'));

SELECT protect_tenant_table('account_settings');
SELECT protect_tenant_table('account_limits');
SELECT protect_tenant_table('roles');
SELECT protect_tenant_table('users');
SELECT protect_tenant_table('groups');
SELECT protect_tenant_table('user_groups');
SELECT protect_tenant_table('api_keys');
SELECT protect_tenant_table('organization_types');
SELECT protect_tenant_table('organization_statuses');
SELECT protect_tenant_table('organizations');
SELECT protect_tenant_table('organization_groups');
SELECT protect_tenant_table('reviews');
SELECT protect_tenant_table('logos');

-- +goose Down
DROP TABLE logos, reviews, organization_groups, organizations, organization_statuses,
    organization_types, api_key_digests, api_keys, user_groups, groups, users, roles,
    account_limits, account_settings;
