-- Documentation (issue 32): sets no version serves any more, kept for a
-- grace period so that a page being read when its set was replaced (or
-- dropped for the docs budget) still finds its files; `berth gc` and
-- every node's tidying delete their files after it, then the row.
-- Sets in the blob store that neither docs_sets nor this table names
-- (a writer died before swapping its set in) are deleted once old.
-- Keep in step with ../postgres.
CREATE TABLE docs_retired (
    set_id      TEXT   PRIMARY KEY,
    retired_at  INTEGER NOT NULL
);
