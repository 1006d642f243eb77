-- Berth's metadata schema, SQLite dialect. Keep in step with ../postgres.
-- Times are Unix seconds (UTC); flags are 0/1 integers, so that one set of
-- queries reads both dialects.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    login         TEXT    NOT NULL UNIQUE,
    name          TEXT,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE registries (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE crates (
    id           INTEGER PRIMARY KEY,
    registry_id  INTEGER NOT NULL REFERENCES registries(id),
    name         TEXT    NOT NULL,
    canon_name   TEXT    NOT NULL,
    description  TEXT,
    max_version  TEXT,
    downloads    INTEGER NOT NULL DEFAULT 0,
    revision     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (registry_id, canon_name)
);

CREATE TABLE versions (
    id           INTEGER PRIMARY KEY,
    crate_id     INTEGER NOT NULL REFERENCES crates(id),
    vers         TEXT    NOT NULL,
    canon_vers   TEXT    NOT NULL,
    index_line   TEXT    NOT NULL,
    cksum        TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    yanked       INTEGER NOT NULL DEFAULT 0,
    metadata     TEXT    NOT NULL,
    readme       TEXT,
    published_by INTEGER REFERENCES users(id),
    created_at   INTEGER NOT NULL,
    downloads    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (crate_id, canon_vers)
);
CREATE INDEX versions_cksum ON versions (cksum);

CREATE TABLE crate_owners (
    crate_id   INTEGER NOT NULL REFERENCES crates(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    added_by   INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (crate_id, user_id)
);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT,
    action   TEXT    NOT NULL,
    registry TEXT,
    crate    TEXT,
    version  TEXT,
    outcome  TEXT    NOT NULL,
    detail   TEXT
);
