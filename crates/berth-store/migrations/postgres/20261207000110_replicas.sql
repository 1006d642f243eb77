-- Replicas (issue 31). A registry's change feed is read from the audit
-- log (its publish, yank and unyank rows, by id), so the log gets an index
-- by registry. A replica keeps how far it has applied its primary's feed.
-- Keep in step with ../sqlite.
CREATE INDEX audit_log_registry_id ON audit_log (registry, id);

CREATE TABLE replica_state (
    registry_id   BIGINT PRIMARY KEY REFERENCES registries(id),
    -- The primary's feed sequence applied up to (its audit ids).
    applied_seq   BIGINT NOT NULL DEFAULT 0,
    -- The primary's newest sequence, as last seen.
    primary_head  BIGINT NOT NULL DEFAULT 0,
    -- When the replica last held everything the primary had (Unix seconds).
    caught_up_at  BIGINT,
    -- The node that syncs, and until when.
    lease_owner   TEXT,
    lease_until   BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    updated_at    BIGINT NOT NULL
);
