-- +goose Up
-- The bulk creates made with a request_id (AIP-155): a repeat of one (a client retrying after a
-- lost answer or a crash) finds its row here and gets the organizations the first created,
-- rather than creating them again. names holds the request's names beside the ids they got, in
-- request order: a repeat is compared with what was asked, not with the organizations as they
-- are now (one may have been renamed or deleted since), and is answered in its own order.
-- Rows serve retries only, so they are pruned after a week (store.pruneBulkCreateRequests).
CREATE TABLE bulk_create_requests (
    account_id       uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    request_id       uuid        NOT NULL,
    names            text[]      NOT NULL,
    organization_ids uuid[]      NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (account_id, request_id)
);
-- The pruning deletes an account's old rows.
CREATE INDEX bulk_create_requests_created ON bulk_create_requests (account_id, created_at);
SELECT protect_tenant_table('bulk_create_requests');

-- +goose Down
DROP TABLE bulk_create_requests;
