//! [`SwarmScheduler`]: the `Scheduler` port on a Docker Swarm, through the manager's engine.
//!
//! Each container of the port is one replicated service with one replica, named after the
//! container (`{app}_v{N}_{type}_{num}`, see `service`), so that `remove` removes exactly the
//! container the domain names and the swarm replaces a task that dies or disappears. What is
//! identical to the Docker backend lives once, in the crate's shared modules: release images
//! (`names`, `images`), image builds (`build`, on the manager's engine), the container's confinement (`config`), one-off runs (`run`: a plain
//! container on the manager joining the swarm's network), log parsing (`logs`), the engine
//! connection and its error mapping (`engine`). What differs lives here: services instead of
//! containers (`deploy`, `tasks`), the network (`network`: a swarm-scoped bridge whose
//! per-node configuration keeps containers apart) and reading task logs (`output`).

mod deploy;
mod network;
mod output;
mod service;
mod tasks;

use async_trait::async_trait;
use deis_domain::{
    ContainerSpec, ImageInfo, LogLine, LogStream, Observed, RunEvents, RunInputs, RunOutput,
    RunSpec, Scheduler, SchedulerError, TagKind, TtySize,
};
use tokio::sync::Mutex;

use crate::engine::classify;
use crate::network::PlatformNetwork;
use crate::{DockerScheduler, DockerSettings, attach, follow, run};

/// The [`Scheduler`] on a Docker Swarm whose manager is the engine of the settings.
///
/// Services and their task containers carry the same `deis.*` labels as the Docker backend's
/// containers (plus `deis.name`, the port's container name); `list` sees only services with
/// this controller's identity. Every task publishes `$PORT` in host mode on a port the engine
/// picks, and [`Observed`] carries the node's address and that port, which is where the
/// router reaches it. Tags become placement constraints `node.labels.{key}=={value}`.
pub struct SwarmScheduler {
    /// The Docker backend on the manager's engine: its connection, names, settings, images
    /// and one-off runs are this backend's too.
    pub(crate) docker: DockerScheduler,
    /// The platform network once found or made (see `network`).
    pub(crate) network: Mutex<Option<PlatformNetwork>>,
}

impl SwarmScheduler {
    /// A scheduler that connects on first use; never fails and never blocks.
    pub fn new(settings: DockerSettings) -> Self {
        Self {
            docker: DockerScheduler::new(settings),
            network: Mutex::new(None),
        }
    }

    /// A scheduler connected now: fails when the engine cannot be reached or is not a swarm
    /// manager.
    pub async fn connect(settings: DockerSettings) -> Result<Self, SchedulerError> {
        let scheduler = Self::new(settings);
        scheduler.ping().await?;
        Ok(scheduler)
    }

    /// Checks that the engine answers and manages a swarm.
    pub async fn ping(&self) -> Result<(), SchedulerError> {
        let docker = self.docker.engine.docker().await?;
        self.docker
            .engine
            .bounded(docker.inspect_swarm())
            .await
            .map(drop)
            .map_err(|e| match classify(e) {
                SchedulerError::Failed(m) => {
                    SchedulerError::Failed(format!("the engine is not a swarm manager: {m}"))
                }
                unavailable => unavailable,
            })
    }

    /// The name of the swarm network every task and one-off run of this controller joins.
    pub fn network_name(&self) -> &str {
        self.docker.names.network()
    }
}

#[async_trait]
impl Scheduler for SwarmScheduler {
    fn release_image(&self, app: &str, version: i64) -> String {
        self.docker.release_image(app, version)
    }

    fn tag_kind(&self, tag: &str) -> TagKind {
        self.docker.tag_kind(tag)
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, SchedulerError> {
        self.docker.image(reference).await
    }

    async fn publish(&self, source: &str, app: &str, version: i64) -> Result<(), SchedulerError> {
        self.docker.publish(source, app, version).await
    }

    async fn release_versions(&self, app: &str) -> Result<Vec<i64>, SchedulerError> {
        self.docker.release_versions(app).await
    }

    async fn unpublish(&self, app: &str, versions: &[i64]) -> Result<(), SchedulerError> {
        self.docker.unpublish(app, versions).await
    }

    async fn published_apps(&self) -> Result<Vec<String>, SchedulerError> {
        self.docker.published_apps().await
    }

    async fn forget(&self, app: &str) -> Result<(), SchedulerError> {
        self.docker.forget(app).await
    }

    #[tracing::instrument(skip_all, fields(count = specs.len()))]
    async fn start(&self, specs: &[ContainerSpec]) -> Result<(), SchedulerError> {
        deploy::start(self, specs).await
    }

    #[tracing::instrument(skip_all, fields(count = names.len()))]
    async fn remove(&self, names: &[String]) -> Result<(), SchedulerError> {
        deploy::remove(self, names).await
    }

    #[tracing::instrument(skip(self))]
    async fn list(&self, app: Option<&str>) -> Result<Vec<Observed>, SchedulerError> {
        tasks::list(self, app).await
    }

    #[tracing::instrument(skip_all, fields(container = %spec.name))]
    async fn run(&self, spec: &RunSpec) -> Result<RunOutput, SchedulerError> {
        let docker = self.docker.engine.docker().await?;
        let network = network::ensure(self, docker).await?;
        run::run_on(&self.docker, &network, spec).await
    }

    #[tracing::instrument(skip(self))]
    async fn logs(&self, app: &str, lines: usize) -> Result<Vec<LogLine>, SchedulerError> {
        output::logs(self, app, lines).await
    }

    #[tracing::instrument(skip(self))]
    async fn tail(&self, name: &str, lines: usize) -> String {
        output::tail(self, name, lines).await
    }

    async fn ping(&self) -> Result<(), SchedulerError> {
        SwarmScheduler::ping(self).await
    }

    /// Builds on the manager's engine, as the Docker backend does; other nodes need the
    /// image copied to them (docs/OPERATIONS.md).
    async fn build_image(
        &self,
        app: &str,
        context: Vec<u8>,
        output: &(dyn for<'l> Fn(&'l str) + Send + Sync),
    ) -> Result<String, SchedulerError> {
        self.docker.build_image(app, context, output).await
    }

    async fn discard_image(&self, id: &str) -> Result<(), SchedulerError> {
        self.docker.discard_image(id).await
    }

    /// The task containers on the manager's engine carry the platform's labels, so the Docker
    /// backend's follow finds them (tasks on other nodes are not read, as for `logs`).
    #[tracing::instrument(skip(self))]
    async fn follow_logs(&self, app: &str) -> Result<LogStream, SchedulerError> {
        follow::follow(&self.docker, app).await
    }

    /// A one-off run is a plain container on the manager's engine, on the swarm network.
    #[tracing::instrument(skip_all, fields(container = %spec.name))]
    async fn run_attached(
        &self,
        spec: &RunSpec,
        tty: Option<TtySize>,
        input: RunInputs,
    ) -> Result<RunEvents, SchedulerError> {
        let docker = self.docker.engine.docker().await?;
        let network = network::ensure(self, docker).await?;
        attach::run_attached_on(&self.docker, &network, spec, tty, input).await
    }
}
