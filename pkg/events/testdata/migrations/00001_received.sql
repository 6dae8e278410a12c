-- +goose Up
-- What the test consumer applied: applying an event twice would make times = 2.
CREATE TABLE received (
    event_id   uuid PRIMARY KEY,
    account_id uuid,
    times      int NOT NULL
);

-- +goose Down
DROP TABLE received;
