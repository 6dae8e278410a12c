-- +goose Up
-- DeleteRole (issue 19). A role nobody holds can be deleted; users keep theirs by the foreign
-- key as before (no user can ever hold a missing role). A revoked API key holds nothing (it can
-- never be used again) but keeps its row as a record, and with the old key its role could never
-- be deleted, even after every key with it was revoked: a revoked key's role now becomes NULL
-- when the role goes, while a valid key must keep one (the check), so deleting a role a valid key
-- still has fails rather than leave the key without permissions.
ALTER TABLE api_keys ALTER COLUMN role_id DROP NOT NULL;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_account_id_role_id_fkey;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_account_id_role_id_fkey
    FOREIGN KEY (account_id, role_id) REFERENCES roles (account_id, id) ON DELETE SET NULL (role_id);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_valid_key_has_role CHECK (role_id IS NOT NULL OR revoked_at IS NOT NULL);

-- ListReviews for one assignee ("Mine"): the reviews a user is the engineer or the vCIO of, each
-- side in list order, combined by a bitmap OR. Equality on uuid is leakproof, so these serve
-- queries under the tenant policy.
CREATE INDEX reviews_engineer ON reviews (account_id, engineer_id, created_at DESC, id DESC) WHERE engineer_id IS NOT NULL;
CREATE INDEX reviews_vcio ON reviews (account_id, vcio_id, created_at DESC, id DESC) WHERE vcio_id IS NOT NULL;

-- +goose Down
DROP INDEX reviews_vcio;
DROP INDEX reviews_engineer;
-- Revoked keys whose role was deleted cannot get it back: they go (their digests with them).
-- The loop sets each account's scope, as migration 00007 explains.
-- +goose StatementBegin
DO $$
DECLARE
    a uuid;
BEGIN
    FOR a IN SELECT id FROM accounts LOOP
        PERFORM set_config('app.account_id', a::text, true);
        DELETE FROM api_keys WHERE role_id IS NULL;
    END LOOP;
    PERFORM set_config('app.account_id', '', true);
END
$$;
-- +goose StatementEnd
ALTER TABLE api_keys DROP CONSTRAINT api_keys_valid_key_has_role;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_account_id_role_id_fkey;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_account_id_role_id_fkey
    FOREIGN KEY (account_id, role_id) REFERENCES roles (account_id, id);
ALTER TABLE api_keys ALTER COLUMN role_id SET NOT NULL;
