-- +goose Up
-- The notifications area (notification settings, the record of what was sent): the built-in
-- roles get it as new accounts do (IT Provider Admin full, vCIO read-only, Engineer none); custom
-- roles get none until an administrator grants it.
UPDATE roles SET permissions = permissions || jsonb_build_object('notifications',
        CASE builtin WHEN 1 THEN 3 WHEN 2 THEN 2 ELSE 1 END)
    WHERE NOT permissions ? 'notifications';

-- +goose Down
UPDATE roles SET permissions = permissions - 'notifications';
