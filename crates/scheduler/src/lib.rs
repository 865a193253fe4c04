//! The `Scheduler` port of `deis-domain` on one Docker Engine, through `bollard`.
//!
//! This crate owns how the platform's processes become containers: names, the `deis.*`
//! labels that let the controller find its own containers again, environment, limits,
//! restart policy, one-off runs and log collection; and how tenants are kept apart on one
//! engine: release images in a namespace of this controller (`names`, `images`), one network
//! where no container reaches another (`network`), and confined containers (`config`). It talks to the engine and to nothing
//! else: it knows no HTTP layer and no database, and bollard's types and errors never leave
//! it (the private `engine` module turns every engine failure into a
//! [`deis_domain::SchedulerError`]).
//!
//! Every engine request is bounded in time, so an unreachable engine turns into
//! `SchedulerError::Unavailable` within seconds instead of a hung request. Calls on many
//! containers (`start`, `remove`, `logs`) issue their engine requests concurrently.

mod attach;
mod build;
mod config;
mod docker;
mod engine;
mod follow;
mod images;
mod labels;
mod limits;
mod logs;
mod names;
mod network;
mod observe;
mod remove;
mod run;
mod settings;
mod start;
mod swarm;

pub use docker::DockerScheduler;
pub use settings::DockerSettings;
pub use swarm::SwarmScheduler;
