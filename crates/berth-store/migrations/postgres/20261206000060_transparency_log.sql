-- The transparency log (issue 29): per registry, an append-only Merkle tree
-- of one record per version. Keep in step with ../sqlite.

-- One row per logged version: leaf `idx` of its registry's tree, whose
-- leaf is the record's canonical line (berth-log's `Record`). Rows are
-- only ever inserted, at idx = the tree's size, under the log's lock.
CREATE TABLE log_records (
    registry_id BIGINT NOT NULL REFERENCES registries(id),
    idx         BIGINT NOT NULL,
    name        TEXT    NOT NULL,
    canon_name  TEXT    NOT NULL,
    vers        TEXT    NOT NULL,
    canon_vers  TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    pubtime     TEXT    NOT NULL,
    logged_at   BIGINT NOT NULL,
    PRIMARY KEY (registry_id, idx)
);
-- One record per version (ignoring build metadata), ever.
CREATE UNIQUE INDEX log_records_version ON log_records (registry_id, canon_name, canon_vers);

-- Every complete subtree's hash (hex): the 2^level leaves from
-- idx << level. Written when its last leaf is appended, never changed, so a
-- proof for any tree size reads O(log n) of them.
CREATE TABLE log_nodes (
    registry_id BIGINT NOT NULL REFERENCES registries(id),
    level       BIGINT NOT NULL,
    idx         BIGINT NOT NULL,
    hash        TEXT    NOT NULL,
    PRIMARY KEY (registry_id, level, idx)
);

-- Every checkpoint this server signed and handed out (the signed note as
-- served), so that fsck can check the log against all of them.
CREATE TABLE log_checkpoints (
    registry_id BIGINT NOT NULL REFERENCES registries(id),
    size        BIGINT NOT NULL,
    root        TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    signed_at   BIGINT NOT NULL,
    PRIMARY KEY (registry_id, size)
);

-- Whether the versions a registry had before its log existed were logged
-- (once, at the first start with this migration, in publish order).
ALTER TABLE registries ADD COLUMN log_backfilled BIGINT NOT NULL DEFAULT 0;
