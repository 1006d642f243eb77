-- Each registry's log head (issue 29): the tree's size and its frontier,
-- the hashes (hex, concatenated, largest subtree first) of the complete
-- subtrees its leaves form, from which the root and the next append follow.
-- Written in the same transaction as every append. An append locks this
-- row first (SELECT ... FOR UPDATE), which is what serializes one
-- registry's appends across nodes. A registry without a row (created
-- before this migration, or new) gets one made from log_records and
-- log_nodes at its first append. Keep in step with ../sqlite.
CREATE TABLE log_heads (
    registry_id BIGINT PRIMARY KEY REFERENCES registries(id),
    size        BIGINT NOT NULL,
    frontier    TEXT   NOT NULL
);
