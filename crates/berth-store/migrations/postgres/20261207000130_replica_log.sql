-- Replicas check the primary's transparency log (issue 31): the newest
-- checkpoint of it the replica verified, so that every later one must
-- extend it (a consistency proof), across restarts and nodes.
-- Keep in step with ../sqlite.
ALTER TABLE replica_state ADD COLUMN log_size BIGINT NOT NULL DEFAULT 0;
-- Its root hash, hex (NULL until one was verified).
ALTER TABLE replica_state ADD COLUMN log_root TEXT;
