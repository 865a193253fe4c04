-- API v1.7: TLS certificates stored through /v1/certs (the same table as migrations/sqlite).
-- The private key is sealed by the controller; the database never holds it in the clear.
CREATE TABLE certs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    common_name TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    chain TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    expires BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    CONSTRAINT certs_common_name_key UNIQUE (common_name)
);
CREATE INDEX certs_owner ON certs (owner);
