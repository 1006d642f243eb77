-- Reverse dependencies: one row per (version, dependency) as the version's
-- index line names it, so that a crate's page can list the crates that
-- depend on it. Filled at publish and bulk load; backfilled here from the
-- stored index lines. Keep in step with ../postgres.
-- registry_id is the dependent version's registry (denormalised for the
-- index); dep_canon_name is the canonical name of the crate depended on
-- (`package` when the dependency is renamed); dep_registry is the other
-- registry's index URL, NULL for the dependent's own registry.
CREATE TABLE dependencies (
    id             INTEGER PRIMARY KEY,
    version_id     INTEGER NOT NULL REFERENCES versions(id),
    registry_id    INTEGER NOT NULL REFERENCES registries(id),
    dep_canon_name TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    dep_registry   TEXT
);
CREATE INDEX dependencies_target ON dependencies (registry_id, dep_canon_name);
CREATE INDEX dependencies_version ON dependencies (version_id);

INSERT INTO dependencies (version_id, registry_id, dep_canon_name, kind, dep_registry)
SELECT DISTINCT v.id, c.registry_id,
       lower(replace(coalesce(json_extract(d.value, '$.package'), json_extract(d.value, '$.name')), '-', '_')),
       coalesce(json_extract(d.value, '$.kind'), 'normal'),
       json_extract(d.value, '$.registry')
FROM versions v
JOIN crates c ON c.id = v.crate_id,
     json_each(CASE WHEN json_valid(v.index_line) THEN v.index_line ELSE '{}' END, '$.deps') d
WHERE json_extract(d.value, '$.name') IS NOT NULL
ORDER BY v.id;
