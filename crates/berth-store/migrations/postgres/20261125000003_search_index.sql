-- Substring search over crate names and descriptions without scanning every
-- crate: trigram GIN indexes (pg_trgm is a trusted extension: the database
-- owner may create it). (SQLite uses an FTS5 trigram table instead.)
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX crates_canon_name_trgm ON crates USING gin (canon_name gin_trgm_ops);
CREATE INDEX crates_description_trgm ON crates USING gin (lower(description) gin_trgm_ops);
CREATE INDEX crates_registry_downloads ON crates (registry_id, downloads);
