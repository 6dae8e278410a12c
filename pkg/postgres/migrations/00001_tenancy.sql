-- +goose Up
-- The one definition of tenant isolation, installed in every service's schema: a table holding
-- an account's data calls protect_tenant_table() in the migration that creates it.
-- +goose StatementBegin
CREATE FUNCTION protect_tenant_table(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    -- FORCE: the policy binds the table's owner too; only superusers bypass it.
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    -- NULLIF: once a pooled connection has seen the setting, an unset one reads as ''.
    EXECUTE format($p$CREATE POLICY tenant ON %s
        USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
        WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)$p$, t);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION protect_tenant_table(regclass);
