-- Downloads per version per day (UTC), for the crate page's chart. `day` is
-- the Unix day number (Unix seconds / 86400). Added to where the download
-- counters are flushed. Keep in step with ../sqlite.
CREATE TABLE version_downloads (
    version_id BIGINT  NOT NULL REFERENCES versions(id),
    day        BIGINT  NOT NULL,
    count      BIGINT  NOT NULL,
    PRIMARY KEY (version_id, day)
);
