-- Webhooks (issue 31): receivers told of changes, and their deliveries.
-- A delivery is queued in the same transaction as the change it tells of
-- (with the change's audit row), so none is lost and none tells of a
-- change that did not happen; any node sends it under a lease.
-- Keep in step with ../postgres.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    url         TEXT   NOT NULL,
    -- Comma-separated: publish, yank, unyank, owner, advisory.
    events      TEXT   NOT NULL,
    -- Only this registry's changes; NULL: every registry's.
    registry    TEXT,
    -- The environment variable holding the HMAC secret; NULL: unsigned.
    secret_env  TEXT,
    created_by  TEXT,
    created_at  INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY,
    webhook_id   INTEGER NOT NULL REFERENCES webhooks(id),
    event        TEXT   NOT NULL,
    -- What deliveries to one receiver keep in order ("REGISTRY/crate").
    subject      TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    -- pending | done | dead
    state        TEXT   NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    lease_until  INTEGER,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, subject, state, id);
