-- Where the audit log's hash chain begins (issue 25). Keep in step with
-- ../postgres.
--
-- Rows written before the chain existed have NULL hashes. Only those may be
-- unchained, so `berth audit verify` needs to know which they were: this
-- one-row table records the highest id of that pre-chain prefix (0 when
-- there was none). Every row after it must be chained, the first one with
-- id `pre_chain_until + 1`. The prefix is the unchained rows below the
-- first chained one, as they stand when this migration runs.
CREATE TABLE audit_chain (
    one             INTEGER PRIMARY KEY CHECK (one = 1),
    pre_chain_until INTEGER NOT NULL
);
INSERT INTO audit_chain (one, pre_chain_until)
SELECT 1, COALESCE(MAX(id), 0) FROM audit_log
WHERE hash IS NULL
  AND id > 0
  AND id < COALESCE((SELECT MIN(id) FROM audit_log WHERE hash IS NOT NULL),
                    9223372036854775807);
