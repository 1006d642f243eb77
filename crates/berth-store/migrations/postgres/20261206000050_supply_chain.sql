-- Supply-chain control (issue 28): the advisory set in force, and each
-- registry's policy exceptions and approved list. Keep in step with ../sqlite.

-- The advisory set in force: at most one row, replaced whole by an import
-- (`berth advisories import`), so that every node loads the same set.
-- `body` is the set in Berth's stored form (JSON); `digest` its content
-- digest, which nodes compare to learn that it changed. `body` is the last
-- column, so that the poll of the others never reads its pages.
CREATE TABLE advisory_sets (
    id          BIGSERIAL PRIMARY KEY,
    digest      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    advisories  BIGINT NOT NULL,
    crates      BIGINT NOT NULL,
    imported_at BIGINT NOT NULL,
    body        TEXT    NOT NULL
);

-- One version allowed whatever a registry's policy says
-- (`berth policy allow`), until `expires_at` (NULL: never).
CREATE TABLE policy_exceptions (
    id          BIGSERIAL PRIMARY KEY,
    registry_id BIGINT NOT NULL REFERENCES registries(id),
    name        TEXT    NOT NULL,
    canon_name  TEXT    NOT NULL,
    vers        TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    expires_at  BIGINT,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT NOT NULL
);
-- One exception per version (without build metadata, as downloads match).
CREATE UNIQUE INDEX policy_exceptions_version ON policy_exceptions (registry_id, canon_name, vers);

-- A registry's approved list (`berth policy approve`): a crate, and
-- optionally the versions of it (a requirement; NULL: every version).
CREATE TABLE policy_approvals (
    id          BIGSERIAL PRIMARY KEY,
    registry_id BIGINT NOT NULL REFERENCES registries(id),
    name        TEXT    NOT NULL,
    canon_name  TEXT    NOT NULL,
    req         TEXT,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX policy_approvals_entry ON policy_approvals (registry_id, canon_name, COALESCE(req, ''));

-- Bumped by every change to a registry's exceptions or approvals, so that
-- each node reloads them (it polls this column).
ALTER TABLE registries ADD COLUMN policy_revision BIGINT NOT NULL DEFAULT 0;
