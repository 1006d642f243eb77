-- Documentation (issue 32): the set of rustdoc files a version's docs are
-- made of, uploaded from CI (later also built by Berth). The files live in
-- the blob store under `docs/SET_ID/PATH`; a new set for a version is
-- written whole before its row replaces the old one, whose files are then
-- deleted. Docs are derived data: backups carry neither rows nor files.
-- Keep in step with ../sqlite.
CREATE TABLE docs_sets (
    version_id  BIGINT PRIMARY KEY REFERENCES versions(id),
    -- Random; names the set's blobs.
    set_id      TEXT   NOT NULL,
    -- The directory of the crate's own pages (its name with `-` as `_`).
    root        TEXT   NOT NULL,
    -- `upload` (from CI) or `build`.
    source      TEXT   NOT NULL,
    files       BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    created_by  TEXT,
    created_at  BIGINT NOT NULL
);

-- The build queue: a job per version, queued with its publish (in the
-- same transaction) or by `berth docs rebuild`; taken by a node's docs
-- worker under a lease, so that a killed worker's job is taken again.
CREATE TABLE docs_builds (
    version_id  BIGINT PRIMARY KEY REFERENCES versions(id),
    -- queued, building, ok or failed.
    state       TEXT   NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    -- The end of the build's log (failed builds especially).
    log         TEXT,
    queued_at   BIGINT NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT
);
CREATE INDEX docs_builds_queue ON docs_builds (state, queued_at);
