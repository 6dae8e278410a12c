-- +goose Up
-- The user whose current role and scope bound an API key at every use, beside the user it acts
-- as (domain.KeyGrant.Identity): the person behind its creation (domain.CreatorBehind).
-- Deactivating or narrowing that user stops or narrows the key at its next request. NULL: a key
-- a platform operator made acting as no one, bound by nothing but its own role.
ALTER TABLE api_keys ADD COLUMN owner_user_id uuid;
ALTER TABLE api_keys ADD FOREIGN KEY (account_id, owner_user_id) REFERENCES users (account_id, id);

-- Who made the existing keys was never recorded. A key acting as a user gets that user: it is
-- bound by that user anyway (the first administrator's key among them, which is how new
-- accounts' first keys are recorded too), so nothing changes for it. A key acting as no one
-- keeps no owner: nobody can be named for it, and revoking it remains the way to stop it.
-- The loop sets each account's scope, so the backfill also works for a migrating login that row
-- security binds (FORCE ROW LEVEL SECURITY binds the owner; only superusers bypass it).
-- +goose StatementBegin
DO $$
DECLARE
    a uuid;
BEGIN
    FOR a IN SELECT id FROM accounts LOOP
        PERFORM set_config('app.account_id', a::text, true);
        UPDATE api_keys SET owner_user_id = user_id WHERE owner_user_id IS NULL AND user_id IS NOT NULL;
    END LOOP;
    PERFORM set_config('app.account_id', '', true);
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE api_keys DROP COLUMN owner_user_id;
