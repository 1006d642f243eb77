-- Sign-in through the company's identity (issue 30): a user created or
-- linked by single sign-on (OIDC) or a directory (LDAP) is found again by
-- the identity's source and its stable subject (the OIDC issuer and `sub`,
-- or the directory entry's DN), never by a login the identity provider
-- lets people choose. A user has at most one identity per source.
-- Keep in step with ../sqlite.
CREATE TABLE external_identities (
    source       TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (source, subject)
);
CREATE UNIQUE INDEX external_identities_user ON external_identities (user_id, source);
