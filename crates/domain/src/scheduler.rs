//! The container port: what any backend (one Docker engine, later a swarm) must do.
//!
//! Calls are async and concurrent inside: `start` and `remove` act on many containers at
//! once. Every container a backend makes carries labels naming app, release, type, num and
//! the controller, so that `list` finds exactly the containers of this controller again.
//!
//! The backend owns the names of release images: they live in a namespace of this controller
//! ([`Scheduler::release_image`]) that no user image uses, and the backend only ever tags or
//! removes names in it. It also owns how apps are kept apart (networks) and how containers are
//! confined (capabilities, limits); the use cases only ask for containers.

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
    /// Image to run: the release image, [`Scheduler::release_image`].
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
    /// Image: the release image, [`Scheduler::release_image`].
    pub image: String,
    /// Shell command, run as `sh -c <command>`.
    pub command: String,
    /// Environment as for long-running containers.
    pub env: BTreeMap<String, String>,
    /// Memory limit such as `512M`.
    pub memory: Option<String>,
    /// CPU shares.
    pub cpu_shares: Option<i64>,
    /// Killed after this long.
    pub timeout: Duration,
    /// Output kept for the answer, in bytes; what comes after is read and dropped.
    pub output_limit: usize,
}

/// What a one-off command produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// Exit code of the command.
    pub exit_code: i64,
    /// stdout and stderr, interleaved, at most the spec's `output_limit` bytes.
    pub output: String,
    /// The command printed more than `output_limit` bytes; `output` is the beginning.
    pub truncated: bool,
}

/// A terminal's size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtySize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// What the client of an attached run sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunInput {
    /// Bytes for the command's standard input.
    Stdin(Vec<u8>),
    /// The end of standard input.
    CloseStdin,
    /// The client's terminal changed size.
    Resize(TtySize),
}

/// What an attached run sends back, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// Bytes the command printed on standard output (everything, with a terminal).
    Stdout(Vec<u8>),
    /// Bytes the command printed on standard error.
    Stderr(Vec<u8>),
    /// The command ended with this exit code (124: killed at the time limit); always last.
    Exit(i64),
}

/// The input of an attached run.
pub type RunInputs = futures_util::stream::BoxStream<'static, RunInput>;

/// The output of an attached run; dropping it kills and removes the container.
pub type RunEvents = futures_util::stream::BoxStream<'static, Result<RunEvent, SchedulerError>>;

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
    /// Where the router reaches it (its address on the platform's network, or the address
    /// of the node publishing it), when it has one.
    pub address: Option<IpAddr>,
    /// The port the router reaches it on when the backend publishes `$PORT` on another one
    /// (a swarm's host-mode port); `None`: `$PORT` itself.
    pub port: Option<u16>,
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

/// Lines as containers print them, without end; dropping it stops the following.
pub type LogStream = futures_util::stream::BoxStream<'static, LogLine>;

/// An image the engine holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The engine's id of the image, `sha256:...`.
    pub id: String,
    /// Every `repository:tag` naming it (familiar form, e.g. `deis/example:latest`).
    pub tags: Vec<String>,
}

/// What an image tag is to the platform (see [`Scheduler::tag_kind`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagKind {
    /// Outside the platform's release namespace: an image users may name.
    Ordinary,
    /// This controller's release image of `app`, release `version`.
    Release {
        /// App id.
        app: String,
        /// Release version.
        version: i64,
    },
    /// Inside the release namespace but not one of this controller's release images
    /// (another installation's, or a name the platform never makes).
    Reserved,
}

/// Runs the containers of the platform.
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// The reference the image of the app's release `version` is published as, in a namespace
    /// this controller owns.
    fn release_image(&self, app: &str, version: i64) -> String;
    /// What `tag` (a familiar `repository:tag`) is to the platform.
    fn tag_kind(&self, tag: &str) -> TagKind;
    /// The image the engine holds under `reference` (a tag, an id or a short id); `None` when
    /// it holds none.
    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, SchedulerError>;
    /// Makes the app's release image of `version` name the image `source`.
    async fn publish(&self, source: &str, app: &str, version: i64) -> Result<(), SchedulerError>;
    /// The versions of the app that have a release image on the engine, ascending.
    async fn release_versions(&self, app: &str) -> Result<Vec<i64>, SchedulerError>;
    /// Removes the app's release images of `versions`. Only names of the release namespace
    /// are removed, never by force: an image a container still uses stays.
    async fn unpublish(&self, app: &str, versions: &[i64]) -> Result<(), SchedulerError>;
    /// Apps that have release images on the engine (or anything else the backend keeps per
    /// app), so that reconciliation can forget the deleted ones.
    async fn published_apps(&self) -> Result<Vec<String>, SchedulerError>;
    /// Removes everything the backend keeps for the app besides its containers: every release
    /// image (and per-app networks, where a backend has them). Best done after its
    /// containers are gone.
    async fn forget(&self, app: &str) -> Result<(), SchedulerError>;
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
    /// Checks that the engine answers, for readiness probes; bounded like every call. The
    /// default lists this controller's containers; backends with a cheaper probe override it.
    async fn ping(&self) -> Result<(), SchedulerError> {
        self.list(None).await.map(drop)
    }
    /// Builds an image for `app` from `context` (a tar archive with a `Dockerfile` at its
    /// root) without pulling anything, handing every output line to `output`; answers the
    /// image's id. `Failed` carries why the build failed (the Dockerfile's fault).
    async fn build_image(
        &self,
        app: &str,
        context: Vec<u8>,
        output: &(dyn for<'l> Fn(&'l str) + Send + Sync),
    ) -> Result<String, SchedulerError> {
        let _ = (context, output);
        Err(SchedulerError::Failed(format!(
            "this scheduler cannot build images (app {app})"
        )))
    }
    /// Removes a built image (by id) that no release took, unless it carries a tag.
    async fn discard_image(&self, id: &str) -> Result<(), SchedulerError> {
        let _ = id;
        Ok(())
    }
    /// What the app's long-running containers print from now on, as they print it: containers
    /// started later join, removed ones leave. Pushed by the backend, never polled per line;
    /// ends only when dropped (or when the backend stops answering).
    async fn follow_logs(&self, app: &str) -> Result<LogStream, SchedulerError>;
    /// Runs a one-off container attached: created and started before this returns (with a
    /// terminal of `tty`'s size when given), `input` feeds its standard input and terminal
    /// size, and the answer streams what it prints as it prints it, ending with its exit code
    /// (the spec's time limit kept). The container is removed when it ended, and also when the
    /// answer is dropped before (the command is killed).
    async fn run_attached(
        &self,
        spec: &RunSpec,
        tty: Option<TtySize>,
        input: RunInputs,
    ) -> Result<RunEvents, SchedulerError>;
}
