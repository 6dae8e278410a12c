-- +goose Up
-- Invitation and password-reset emails (org's user.invited and user.password_reset_requested).
-- Their delivery keeps which link they are for, never the link: org mints its single-use token
-- when the email is sent, and the body is rendered then, in memory only. text_body and html_body
-- stay empty for them.
ALTER TABLE deliveries ADD COLUMN link_id uuid;
-- A newer email for the same link replaces one still waiting.
CREATE INDEX deliveries_pending_link ON deliveries (link_id) WHERE link_id IS NOT NULL AND status = 1;
-- The hourly cap counts the emails people can turn off; the sign-in emails are not held to it.
DROP INDEX deliveries_recent_email;
CREATE INDEX deliveries_recent_email ON deliveries (account_id, created_at) WHERE channel = 1 AND status IN (1, 2) AND link_id IS NULL;

-- +goose Down
DROP INDEX deliveries_recent_email;
CREATE INDEX deliveries_recent_email ON deliveries (account_id, created_at) WHERE channel = 1 AND status IN (1, 2);
DROP INDEX deliveries_pending_link;
ALTER TABLE deliveries DROP COLUMN link_id;
