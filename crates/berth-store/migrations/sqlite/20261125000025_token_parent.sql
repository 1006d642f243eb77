-- The token that made a token through /api/v1/me/tokens (issue 25), so
-- that revoking a token revokes the tokens it made, and theirs. NULL for
-- tokens made by an operator, on the account page, or before this
-- migration. Keep in step with ../postgres.
ALTER TABLE tokens ADD COLUMN parent_id INTEGER REFERENCES tokens(id);
CREATE INDEX tokens_parent ON tokens (parent_id) WHERE parent_id IS NOT NULL;
