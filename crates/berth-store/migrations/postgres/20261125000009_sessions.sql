-- Web UI login sessions. Keep in step with ../sqlite.
-- The cookie's random secret is stored only as its sha256 (id_hash); csrf is
-- the per-session token every form of the UI carries.
CREATE TABLE sessions (
    id_hash    TEXT    PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    csrf       TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
