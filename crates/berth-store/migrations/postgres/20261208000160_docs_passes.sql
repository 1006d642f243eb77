-- Documentation (issue 32): a private registry's docs opened in a browser.
-- A browser sends no token, and the docs path carries no cookie (docs are
-- untrusted pages): a signed-in reader who opens a crate's docs from its
-- page gets a pass in the docs URL instead. A row holds the sha256 of the
-- pass's random secret (never the secret), the session it was opened from
-- (the pass ends with it: sign-out, password change, expiry), and the one
-- crate of one registry it reads. Rows are deleted once expired.
-- Keep in step with ../sqlite.
CREATE TABLE docs_passes (
    id_hash      TEXT    PRIMARY KEY,
    session_hash TEXT    NOT NULL,
    registry     TEXT    NOT NULL,
    crate_name   TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX docs_passes_session ON docs_passes (session_hash);
CREATE INDEX docs_passes_expiry ON docs_passes (expires_at);
