//! The container port: what any backend (one Docker engine, later a swarm) must do.
//!
//! Calls are async and concurrent inside: `start` and `remove` act on many containers at
//! once. Every container a backend makes carries labels naming app, release, type, num and
//! the controller, so that `list` finds exactly the containers of this controller again.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::SchedulerError;
use crate::model::ContainerState;

/// One long-running container to create and start.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// Engine name, `{app}_v{N}.{type}.{num}`.
    pub name: String,
    /// App id.
    pub app: String,
    /// Release version.
    pub version: i64,
    /// Process type.
    pub proc_type: String,
    /// Number within the type.
    pub num: i64,
    /// Image to run, `{app}:v{N}`.
    pub image: String,
    /// Procfile command, run through `sh -c`; `None` runs the image's default command.
    pub command: Option<String>,
    /// Environment: config values plus `DEIS_APP`, `DEIS_RELEASE` and `PORT`.
    pub env: BTreeMap<String, String>,
    /// Memory limit such as `512M`.
    pub memory: Option<String>,
    /// CPU shares.
    pub cpu_shares: Option<i64>,
    /// Placement constraints, where the backend has placement.
    pub tags: BTreeMap<String, String>,
}

/// A one-off command in a container of the current release.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Engine name, `{app}_v{N}.run.{num}`.
    pub name: String,
    /// App id.
    pub app: String,
    /// Release version.
    pub version: i64,
    /// Number among the app's runs.
    pub num: i64,
    /// Image, `{app}:v{N}`.
    pub image: String,
    /// Shell command, run as `sh -c <command>`.
    pub command: String,
    /// Environment as for long-running containers.
    pub env: BTreeMap<String, String>,
    /// Killed after this long.
    pub timeout: Duration,
}

/// What a one-off command produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// Exit code of the command.
    pub exit_code: i64,
    /// stdout and stderr, interleaved.
    pub output: String,
}

/// A container of this controller as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Engine name.
    pub name: String,
    /// App id (label).
    pub app: String,
    /// Release version (label).
    pub version: i64,
    /// Process type (label).
    pub proc_type: String,
    /// Number (label).
    pub num: i64,
    /// Live state.
    pub state: ContainerState,
    /// Where the router reaches it (its address on the platform's network), when it has one.
    pub address: Option<IpAddr>,
}

/// One line a container printed.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// When it was printed.
    pub at: OffsetDateTime,
    /// Which process, `{type}.{num}`.
    pub source: String,
    /// The text, without the newline.
    pub text: String,
}

/// Runs the containers of the platform.
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Makes the image reference `target` (`{app}:v{N}`) name the image `source`.
    async fn publish(&self, source: &str, target: &str) -> Result<(), SchedulerError>;
    /// Creates and starts every container concurrently and waits until each runs.
    /// All or nothing: on failure, whatever this call created is removed again.
    async fn start(&self, specs: &[ContainerSpec]) -> Result<(), SchedulerError>;
    /// Stops and removes the named containers concurrently; names not present are fine.
    async fn remove(&self, names: &[String]) -> Result<(), SchedulerError>;
    /// This controller's containers of `app` (of every app when `None`), with live states.
    async fn list(&self, app: Option<&str>) -> Result<Vec<Observed>, SchedulerError>;
    /// Runs a one-off container to completion (or its timeout) and removes it.
    async fn run(&self, spec: &RunSpec) -> Result<RunOutput, SchedulerError>;
    /// The last `lines` lines the app's containers printed, oldest first.
    async fn logs(&self, app: &str, lines: usize) -> Result<Vec<LogLine>, SchedulerError>;
    /// The last `lines` lines one container printed, as text; empty when it cannot be told.
    async fn tail(&self, name: &str, lines: usize) -> String;
}
