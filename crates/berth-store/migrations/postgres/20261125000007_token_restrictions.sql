-- Fine-grained tokens (issue 12). Keep in step with ../sqlite.
--
-- crate_patterns: comma-separated folded crate names, each optionally
-- ending in `*` (a prefix); empty for every crate. registry: the one
-- registry (by name) the token may be used on, or NULL for all.
-- allowed_cidrs: comma-separated CIDR ranges the token may be used from;
-- empty for any address.
ALTER TABLE tokens ADD COLUMN crate_patterns TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN registry TEXT;
ALTER TABLE tokens ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '';

-- A token's name is unique among its user's active tokens, so that
-- `berth token revoke --name` means one token. Tokens made before this
-- migration may share a name (the old default was `cli`): every active
-- duplicate but the oldest gets its id appended.
UPDATE tokens SET name = name || '-' || CAST(id AS TEXT)
WHERE revoked = 0 AND EXISTS (
    SELECT 1 FROM tokens o
    WHERE o.user_id = tokens.user_id AND o.name = tokens.name AND o.revoked = 0 AND o.id < tokens.id
);
CREATE UNIQUE INDEX tokens_active_name ON tokens (user_id, name) WHERE revoked = 0;
