-- The whole schema of the controller on SQLite.
-- Column types are the ones PostgreSQL has too (BIGINT, TEXT, BOOLEAN) so that one diesel
-- schema serves both backends. Instants are microseconds since the epoch; uuids and JSON
-- objects are text. Every table has an increasing `seq` that lists are ordered by, because
-- creation timestamps can tie.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    is_superuser BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL,
    last_login BIGINT,
    date_joined BIGINT NOT NULL,
    token_generation BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE INDEX users_admins ON users (is_superuser, is_active);

CREATE TABLE apps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    structure TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX apps_id_key ON apps (id);
CREATE UNIQUE INDEX apps_uuid_key ON apps (uuid);
CREATE INDEX apps_owner ON apps (owner);

CREATE TABLE builds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    image TEXT NOT NULL,
    sha TEXT NOT NULL,
    procfile TEXT NOT NULL,
    dockerfile TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX builds_uuid_key ON builds (uuid);
CREATE INDEX builds_app ON builds (app);

CREATE TABLE configs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    env_values TEXT NOT NULL,
    memory TEXT NOT NULL,
    cpu TEXT NOT NULL,
    tags TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX configs_uuid_key ON configs (uuid);
CREATE INDEX configs_app ON configs (app);

CREATE TABLE releases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    version BIGINT NOT NULL,
    summary TEXT NOT NULL,
    config_uuid TEXT NOT NULL REFERENCES configs (uuid),
    build_uuid TEXT REFERENCES builds (uuid),
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX releases_uuid_key ON releases (uuid);
CREATE UNIQUE INDEX releases_app_version_key ON releases (app, version);
CREATE INDEX releases_config ON releases (config_uuid);
CREATE INDEX releases_build ON releases (build_uuid);

CREATE TABLE containers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    release_version BIGINT NOT NULL,
    proc_type TEXT NOT NULL,
    num BIGINT NOT NULL,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX containers_uuid_key ON containers (uuid);
CREATE INDEX containers_app ON containers (app, created);

CREATE TABLE domains (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    domain TEXT NOT NULL,
    owner TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX domains_domain_key ON domains (domain);
CREATE INDEX domains_app ON domains (app);

CREATE TABLE keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    key_id TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX keys_uuid_key ON keys (uuid);
CREATE UNIQUE INDEX keys_owner_key_id_key ON keys (owner, key_id);
CREATE UNIQUE INDEX keys_public_key_key ON keys (public_key);

CREATE TABLE pushes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    sha TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    receive_user TEXT NOT NULL,
    receive_repo TEXT NOT NULL,
    ssh_connection TEXT NOT NULL,
    ssh_original_command TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX pushes_uuid_key ON pushes (uuid);
CREATE INDEX pushes_app ON pushes (app);

CREATE TABLE grants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE
);
CREATE UNIQUE INDEX grants_app_username_key ON grants (app, username);
CREATE INDEX grants_username ON grants (username);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_app ON events (app, seq);

CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
