-- Registry settings kept with the data, and the caches of proxy registries.
-- Keep in step with ../sqlite.

-- Whether a registry is private, recorded at its first start with this
-- schema (NULL until then). A node whose configuration disagrees refuses to
-- start, so a lost config file can never open a private registry.
ALTER TABLE registries ADD COLUMN private BIGINT;

-- Upstream index files a proxy registry has fetched, by the lowercased name
-- cargo asks for. `body` NULL: the upstream answered that the crate does not
-- exist. `etag` / `last_modified` are the upstream's validators.
CREATE TABLE proxy_index (
    registry_id   BIGINT  NOT NULL REFERENCES registries(id),
    name          TEXT    NOT NULL,
    body          TEXT,
    etag          TEXT,
    last_modified TEXT,
    fetched_at    BIGINT  NOT NULL,
    changed_at    BIGINT  NOT NULL,
    PRIMARY KEY (registry_id, name)
);

-- `.crate` files a proxy registry holds in the blob store (verified against
-- the upstream index's checksum before they were stored).
CREATE TABLE proxy_crates (
    registry_id  BIGINT  NOT NULL REFERENCES registries(id),
    name         TEXT    NOT NULL,
    vers         TEXT    NOT NULL,
    cksum        TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    fetched_at   BIGINT  NOT NULL,
    last_used_at BIGINT  NOT NULL,
    PRIMARY KEY (registry_id, name, vers)
);
CREATE INDEX proxy_crates_cksum ON proxy_crates (cksum);
CREATE INDEX proxy_crates_lru ON proxy_crates (registry_id, last_used_at);
