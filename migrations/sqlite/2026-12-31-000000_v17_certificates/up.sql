-- API v1.7: TLS certificates stored through /v1/certs. The private key is sealed by the
-- controller (ChaCha20-Poly1305, see crates/domain/src/certificate.rs); the database never
-- holds it in the clear. A user's certificates go with the user.
CREATE TABLE certs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    common_name TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    chain TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    expires BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX certs_common_name_key ON certs (common_name);
CREATE INDEX certs_owner ON certs (owner);
