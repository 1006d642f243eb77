-- Teams: named groups of users. A team can hold a role in a registry and
-- own crates; its members then act with that role, and may publish and
-- yank the team's crates (only user owners change owners). Keep in step
-- with ../postgres.
CREATE TABLE teams (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id    INTEGER NOT NULL REFERENCES teams(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_roles (
    registry_id INTEGER NOT NULL REFERENCES registries(id),
    team_id     INTEGER NOT NULL REFERENCES teams(id),
    role        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (registry_id, team_id)
);
CREATE INDEX team_roles_team ON team_roles (team_id);

CREATE TABLE crate_owner_teams (
    crate_id   INTEGER NOT NULL REFERENCES crates(id),
    team_id    INTEGER NOT NULL REFERENCES teams(id),
    added_by   INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (crate_id, team_id)
);
CREATE INDEX crate_owner_teams_team ON crate_owner_teams (team_id);
