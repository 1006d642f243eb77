-- Webhooks (issue 31): receivers told of changes, and their deliveries.
-- A delivery is queued in the same transaction as the change it tells of
-- (with the change's audit row), so none is lost and none tells of a
-- change that did not happen; any node sends it under a lease.
-- Keep in step with ../sqlite.
CREATE TABLE webhooks (
    id          BIGSERIAL PRIMARY KEY,
    url         TEXT   NOT NULL,
    -- Comma-separated: publish, yank, unyank, owner, advisory.
    events      TEXT   NOT NULL,
    -- Only this registry's changes; NULL: every registry's.
    registry    TEXT,
    -- The environment variable holding the HMAC secret; NULL: unsigned.
    secret_env  TEXT,
    created_by  TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    webhook_id   BIGINT NOT NULL REFERENCES webhooks(id),
    event        TEXT   NOT NULL,
    -- What deliveries to one receiver keep in order ("REGISTRY/crate").
    subject      TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    -- pending | done | dead
    state        TEXT   NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    lease_until  BIGINT,
    last_status  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, subject, state, id);
