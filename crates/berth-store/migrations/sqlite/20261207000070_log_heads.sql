-- Each registry's log head (issue 29): the tree's size and its frontier,
-- the hashes (hex, concatenated, largest subtree first) of the complete
-- subtrees its leaves form, from which the root and the next append follow.
-- Written in the same transaction as every append (on SQLite, appends are
-- serialized by the write lock every write transaction takes). A registry
-- without a row (created before this migration, or new) gets one made from
-- log_records and log_nodes at its first append. Keep in step with
-- ../postgres.
CREATE TABLE log_heads (
    registry_id INTEGER PRIMARY KEY REFERENCES registries(id),
    size        INTEGER NOT NULL,
    frontier    TEXT    NOT NULL
);
