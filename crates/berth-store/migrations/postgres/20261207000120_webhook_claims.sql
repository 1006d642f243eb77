-- Webhook claims (issue 31) walk the pending deliveries in id order and
-- stop at the first batch that may be sent; an index by (state, next_at)
-- made them read and sort every due delivery instead, on every claim, so
-- that a backlog slowed each claim (under the write lock, on SQLite) as it
-- grew. Keep in step with the other backend's.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (state, id);
