//! Certificates and keys for tests, made once with `openssl` and valid until 2126. Test-only
//! keys: they protect nothing.
//!
//! - `example.com`: RSA 2048 (PKCS#8 key), common name `example.com`, alternative names
//!   `example.com` and `www.example.com`.
//! - `wildcard`: ECDSA P-256 (SEC1 key), common name `*.apps.example.org`, alternative names
//!   `*.apps.example.org` and `apps.example.org`.
//! - `nocn`: Ed25519 (PKCS#8 key), no common name, alternative name `nocn.example.net`.
//! - `other.key`: an RSA key (PKCS#1) that belongs to none of them.

/// Where the fixture files are, for tests that pass file names (the CLI's).
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls");
/// Certificate of `example.com`.
pub const EXAMPLE_CERT: &str = include_str!("../fixtures/tls/example.com.crt");
/// Private key of `example.com`.
pub const EXAMPLE_KEY: &str = include_str!("../fixtures/tls/example.com.key");
/// When the `example.com` and the other certificates expire, in the API's format.
pub const EXPIRES: &str = "2126-11-08T12:29:55UTC";
/// Certificate of `*.apps.example.org`.
pub const WILDCARD_CERT: &str = include_str!("../fixtures/tls/wildcard.crt");
/// Private key of `*.apps.example.org`.
pub const WILDCARD_KEY: &str = include_str!("../fixtures/tls/wildcard.key");
/// Certificate without a common name, for `nocn.example.net`.
pub const NOCN_CERT: &str = include_str!("../fixtures/tls/nocn.crt");
/// Private key of the certificate without a common name.
pub const NOCN_KEY: &str = include_str!("../fixtures/tls/nocn.key");
/// A private key of no certificate here.
pub const OTHER_KEY: &str = include_str!("../fixtures/tls/other.key");
