-- A disabled user (issue 26): cannot sign in, its tokens are refused and
-- its sessions were ended when it was disabled; nothing else changes, so
-- enabling it gives everything back. Keep in step with ../postgres.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
