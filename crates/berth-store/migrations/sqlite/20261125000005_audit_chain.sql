-- The tamper-evident audit log (issue 12). Keep in step with ../postgres.
--
-- Who acted through which token, from where, with which client; and the
-- hash chain: each row's `hash` is the sha256 (hex) of its canonical
-- encoding, which covers every field, its id and `prev_hash` (the hash of
-- the row before it). Rows written before this migration keep NULL hashes:
-- they are the "pre-chain" prefix that `berth audit verify` counts but
-- cannot check; every row after the first chained one must be chained.
ALTER TABLE audit_log ADD COLUMN token_id INTEGER;
ALTER TABLE audit_log ADD COLUMN client_addr TEXT;
ALTER TABLE audit_log ADD COLUMN user_agent TEXT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
