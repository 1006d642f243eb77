-- Per-registry roles: read < publish < admin. Keep in step with ../postgres.
CREATE TABLE registry_roles (
    registry_id INTEGER NOT NULL REFERENCES registries(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    role        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (registry_id, user_id)
);
CREATE INDEX registry_roles_user ON registry_roles (user_id);
