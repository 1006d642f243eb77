-- Downloads per version per day (UTC), for the crate page's chart. `day` is
-- the Unix day number (Unix seconds / 86400). Added to where the download
-- counters are flushed. Keep in step with ../postgres.
CREATE TABLE version_downloads (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    day        INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (version_id, day)
);
