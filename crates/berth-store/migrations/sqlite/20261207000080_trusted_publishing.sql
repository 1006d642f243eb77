-- Trusted publishing (issue 30): CI jobs exchange their own short-lived
-- OIDC token for a 30-minute publish token. Keep in step with ../postgres.

-- Which CI identities may publish a crate: one row per (issuer, repository,
-- workflow[, environment]). A row may name a crate that does not exist yet
-- (a pending configuration, made by a registry admin); it applies once the
-- first version is published through it. `created_by` is the owner or
-- admin who made it: the exchanged token is theirs, so it can do no more
-- than they can, and stops working when they may no longer publish.
CREATE TABLE trust_configs (
    id          INTEGER PRIMARY KEY,
    registry_id INTEGER NOT NULL REFERENCES registries(id),
    crate_name  TEXT   NOT NULL,
    canon_name  TEXT   NOT NULL,
    issuer      TEXT   NOT NULL,
    repository  TEXT   NOT NULL,
    workflow    TEXT   NOT NULL,
    environment TEXT,
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX trust_configs_identity
    ON trust_configs (registry_id, canon_name, issuer, repository, workflow, COALESCE(environment, ''));
CREATE INDEX trust_configs_repository ON trust_configs (registry_id, issuer, repository);

-- Every OIDC token id (`jti`) exchanged, until the token expires: each is
-- accepted once.
CREATE TABLE trust_jtis (
    issuer     TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
);

-- The CI claims a token was exchanged for (JSON), and those a version was
-- published with: provenance shown on the crate page and in the API.
ALTER TABLE tokens ADD COLUMN trust_claims TEXT;
-- A crate published only through trusted publishing: ordinary tokens are
-- refused for it (owners still yank and manage owners with them).
ALTER TABLE crates ADD COLUMN trusted_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE versions ADD COLUMN trust_claims TEXT;
