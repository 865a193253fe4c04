-- The whole schema of the controller on PostgreSQL: the same tables, columns and index names
-- as migrations/sqlite, so that one diesel schema and one error mapping serve both.
-- Instants are microseconds since the epoch; uuids and JSON objects are text. Every table has
-- an increasing `seq` that lists are ordered by, because creation timestamps can tie.
-- Unique sets are named constraints: their names are what a conflict reports.

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    is_superuser BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL,
    last_login BIGINT,
    date_joined BIGINT NOT NULL,
    token_generation BIGINT NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);
CREATE INDEX users_admins ON users (is_superuser, is_active);

CREATE TABLE apps (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    structure TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT apps_id_key UNIQUE (id),
    CONSTRAINT apps_uuid_key UNIQUE (uuid)
);
CREATE INDEX apps_owner ON apps (owner);

CREATE TABLE builds (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    image TEXT NOT NULL,
    sha TEXT NOT NULL,
    procfile TEXT NOT NULL,
    dockerfile TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT builds_uuid_key UNIQUE (uuid)
);
CREATE INDEX builds_app ON builds (app);

CREATE TABLE configs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    env_values TEXT NOT NULL,
    memory TEXT NOT NULL,
    cpu TEXT NOT NULL,
    tags TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT configs_uuid_key UNIQUE (uuid)
);
CREATE INDEX configs_app ON configs (app);

CREATE TABLE releases (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    version BIGINT NOT NULL,
    summary TEXT NOT NULL,
    config_uuid TEXT NOT NULL REFERENCES configs (uuid),
    build_uuid TEXT REFERENCES builds (uuid),
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT releases_uuid_key UNIQUE (uuid),
    CONSTRAINT releases_app_version_key UNIQUE (app, version)
);
CREATE INDEX releases_config ON releases (config_uuid);
CREATE INDEX releases_build ON releases (build_uuid);

CREATE TABLE containers (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    release_version BIGINT NOT NULL,
    proc_type TEXT NOT NULL,
    num BIGINT NOT NULL,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT containers_uuid_key UNIQUE (uuid)
);
CREATE INDEX containers_app ON containers (app, created);

CREATE TABLE domains (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain TEXT NOT NULL,
    owner TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT domains_domain_key UNIQUE (domain)
);
CREATE INDEX domains_app ON domains (app);

CREATE TABLE keys (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid TEXT NOT NULL,
    key_id TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT keys_uuid_key UNIQUE (uuid),
    CONSTRAINT keys_owner_key_id_key UNIQUE (owner, key_id),
    CONSTRAINT keys_public_key_key UNIQUE (public_key)
);

CREATE TABLE pushes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    updated BIGINT NOT NULL,
    CONSTRAINT pushes_uuid_key UNIQUE (uuid)
);
CREATE INDEX pushes_app ON pushes (app);

CREATE TABLE grants (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    CONSTRAINT grants_app_username_key UNIQUE (app, username)
);
CREATE INDEX grants_username ON grants (username);

CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_app ON events (app, seq);

CREATE TABLE settings (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT settings_pkey PRIMARY KEY (name)
);
