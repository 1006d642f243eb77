-- Substring search over crate names and descriptions without scanning every
-- crate: an FTS5 trigram index kept in step with `crates` by triggers.
-- (PostgreSQL uses pg_trgm indexes instead; see ../postgres.)
CREATE VIRTUAL TABLE crates_search USING fts5(
    canon_name, description,
    content = 'crates', content_rowid = 'id',
    tokenize = 'trigram'
);
INSERT INTO crates_search (rowid, canon_name, description)
    SELECT id, canon_name, description FROM crates;

CREATE TRIGGER crates_search_insert AFTER INSERT ON crates BEGIN
    INSERT INTO crates_search (rowid, canon_name, description)
        VALUES (new.id, new.canon_name, new.description);
END;
CREATE TRIGGER crates_search_delete AFTER DELETE ON crates BEGIN
    INSERT INTO crates_search (crates_search, rowid, canon_name, description)
        VALUES ('delete', old.id, old.canon_name, old.description);
END;
CREATE TRIGGER crates_search_update AFTER UPDATE OF canon_name, description ON crates BEGIN
    INSERT INTO crates_search (crates_search, rowid, canon_name, description)
        VALUES ('delete', old.id, old.canon_name, old.description);
    INSERT INTO crates_search (rowid, canon_name, description)
        VALUES (new.id, new.canon_name, new.description);
END;

-- Prefix search on short queries walks this index.
CREATE INDEX crates_registry_downloads ON crates (registry_id, downloads);
