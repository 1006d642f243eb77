-- Replicas (issue 31). A registry's change feed is read from the audit
-- log (its publish, yank and unyank rows, by id), so the log gets an index
-- by registry. A replica keeps how far it has applied its primary's feed.
-- Keep in step with ../postgres.
CREATE INDEX audit_log_registry_id ON audit_log (registry, id);

CREATE TABLE replica_state (
    registry_id   INTEGER PRIMARY KEY REFERENCES registries(id),
    -- The primary's feed sequence applied up to (its audit ids).
    applied_seq   INTEGER NOT NULL DEFAULT 0,
    -- The primary's newest sequence, as last seen.
    primary_head  INTEGER NOT NULL DEFAULT 0,
    -- When the replica last held everything the primary had (Unix seconds).
    caught_up_at  INTEGER,
    -- The node that syncs, and until when.
    lease_owner   TEXT,
    lease_until   INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    updated_at    INTEGER NOT NULL
);
