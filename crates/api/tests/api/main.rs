//! Black-box tests of the HTTP API: the real server on port 0 over a fresh SQLite file and a
//! scheduler double, driven only through HTTP (and, for integrity checks, the store).
//!
//! One module per area of the spec; `helpers` holds the fixtures they share.

mod admin;
mod apps;
mod auth;
mod builds;
mod config;
mod containers;
mod domains;
mod helpers;
mod hooks;
mod integrity;
mod keys;
mod limits;
mod live;
mod operations;
mod perms;
mod protocol;
mod releases;
mod routing;
mod throttle;
mod v17;
