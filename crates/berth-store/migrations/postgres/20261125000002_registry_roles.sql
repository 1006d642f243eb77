-- Per-registry roles: read < publish < admin. Keep in step with ../sqlite.
CREATE TABLE registry_roles (
    registry_id BIGINT  NOT NULL REFERENCES registries(id),
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    role        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (registry_id, user_id)
);
CREATE INDEX registry_roles_user ON registry_roles (user_id);
