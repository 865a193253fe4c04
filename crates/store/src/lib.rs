//! The durable state of the controller: the `Store` port of `deis-domain` implemented with
//! diesel over an r2d2 pool, on SQLite (a file, the default) or PostgreSQL (one code path: a
//! `diesel::MultiConnection` over both).
//!
//! This crate owns the schema (`schema.rs`, embedded migrations under `migrations/`), the rows
//! and their conversions to domain entities, the transactions that make each use-case step
//! atomic, and the per-app locks. It must not know HTTP, JSON wire shapes, authentication or
//! Docker: callers hand it domain values and get domain values back, and no diesel type or
//! error leaves it.
//!
//! On PostgreSQL several controllers (replicas) may share the database: every write tells the
//! others what it changed (`pg_notify` in its transaction), and each store listens, so the read
//! cache stays exact and [`DieselStore::subscribe`] reports other replicas' changes.
//!
//! Every `Store` method runs its diesel work on tokio's blocking pool. Failures become
//! [`StoreError`](deis_domain::StoreError)s in one place (`error::classify`).

mod apps;
mod cache;
mod certs;
mod conn;
mod containers;
mod domains;
mod error;
mod events;
mod file;
mod keys;
mod listen;
mod lock;
mod notice;
mod page;
mod releases;
mod rows;
mod schema;
mod store;
mod throttle;
mod users;

pub use notice::Change;
pub use store::{DieselStore, PoolUse, migrate};
