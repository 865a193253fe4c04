//! [`DockerScheduler`]: the port's entry point, delegating each method to its module.

use async_trait::async_trait;
use deis_domain::{
    ContainerSpec, ImageInfo, LogLine, LogStream, Observed, RunEvents, RunInputs, RunOutput,
    RunSpec, Scheduler, SchedulerError, TagKind, TtySize,
};
use tokio::sync::Mutex;

use crate::engine::{Engine, classify};
use crate::names::Names;
use crate::network::Known;
use crate::{DockerSettings, attach, build, follow, images, logs, observe, remove, run, start};

/// The [`Scheduler`] on one Docker Engine.
///
/// Containers are named as their spec says and labelled `deis.app`, `deis.release`,
/// `deis.type`, `deis.num` and `deis.controller` (the settings' identity); `list` and
/// `logs` see only containers carrying this controller's identity. Long-running containers
/// restart unless stopped. Every container joins this controller's network, where none
/// reaches another and the host reaches all, and runs confined (`config`). Release images are
/// `deis-release/{identity}/{app}:v{N}` (`names`). Placement tags (`ContainerSpec::tags`) are
/// ignored: one engine has nowhere else to place a container.
pub struct DockerScheduler {
    pub(crate) settings: DockerSettings,
    pub(crate) engine: Engine,
    pub(crate) names: Names,
    /// The platform network once found or made (see `network`).
    pub(crate) network: Mutex<Option<Known>>,
}

impl DockerScheduler {
    /// A scheduler that connects on first use; never fails and never blocks, so the
    /// controller starts while the engine is down (its calls then fail as unavailable).
    pub fn new(settings: DockerSettings) -> Self {
        Self {
            engine: Engine::new(&settings),
            names: Names::new(&settings.identity),
            network: Mutex::new(None),
            settings,
        }
    }

    /// A scheduler connected now: fails (within the connect timeout) when the engine
    /// cannot be reached.
    pub async fn connect(settings: DockerSettings) -> Result<Self, SchedulerError> {
        let scheduler = Self::new(settings);
        scheduler.ping().await?;
        Ok(scheduler)
    }

    /// Checks that the engine answers (connecting first if needed), for health checks.
    pub async fn ping(&self) -> Result<(), SchedulerError> {
        let docker = self.engine.docker().await?;
        self.engine
            .bounded(docker.ping())
            .await
            .map(drop)
            .map_err(classify)
    }

    /// The name of the network every container of this controller joins.
    pub fn network_name(&self) -> &str {
        self.names.network()
    }
}

#[async_trait]
impl Scheduler for DockerScheduler {
    fn release_image(&self, app: &str, version: i64) -> String {
        self.names.release_image(app, version)
    }

    fn tag_kind(&self, tag: &str) -> TagKind {
        self.names.tag_kind(tag)
    }

    async fn ping(&self) -> Result<(), SchedulerError> {
        DockerScheduler::ping(self).await
    }

    #[tracing::instrument(skip(self))]
    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, SchedulerError> {
        images::image(self, reference).await
    }

    #[tracing::instrument(skip(self))]
    async fn publish(&self, source: &str, app: &str, version: i64) -> Result<(), SchedulerError> {
        images::publish(self, source, app, version).await
    }

    #[tracing::instrument(skip(self))]
    async fn release_versions(&self, app: &str) -> Result<Vec<i64>, SchedulerError> {
        images::versions(self, app).await
    }

    #[tracing::instrument(skip(self))]
    async fn unpublish(&self, app: &str, versions: &[i64]) -> Result<(), SchedulerError> {
        images::unpublish(self, app, versions).await
    }

    #[tracing::instrument(skip(self))]
    async fn published_apps(&self) -> Result<Vec<String>, SchedulerError> {
        images::apps(self).await
    }

    #[tracing::instrument(skip(self))]
    async fn forget(&self, app: &str) -> Result<(), SchedulerError> {
        images::forget(self, app).await
    }

    #[tracing::instrument(skip_all, fields(count = specs.len()))]
    async fn start(&self, specs: &[ContainerSpec]) -> Result<(), SchedulerError> {
        start::start(self, specs).await
    }

    #[tracing::instrument(skip_all, fields(count = names.len()))]
    async fn remove(&self, names: &[String]) -> Result<(), SchedulerError> {
        remove::remove(&self.engine, self.settings.stop_timeout, names).await
    }

    #[tracing::instrument(skip(self))]
    async fn list(&self, app: Option<&str>) -> Result<Vec<Observed>, SchedulerError> {
        observe::list(
            &self.engine,
            &self.settings.identity,
            self.names.network(),
            app,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(container = %spec.name))]
    async fn run(&self, spec: &RunSpec) -> Result<RunOutput, SchedulerError> {
        run::run(self, spec).await
    }

    #[tracing::instrument(skip(self))]
    async fn logs(&self, app: &str, lines: usize) -> Result<Vec<LogLine>, SchedulerError> {
        logs::logs(self, app, lines).await
    }

    #[tracing::instrument(skip_all, fields(container = %spec.name))]
    async fn run_attached(
        &self,
        spec: &RunSpec,
        tty: Option<TtySize>,
        input: RunInputs,
    ) -> Result<RunEvents, SchedulerError> {
        attach::run_attached(self, spec, tty, input).await
    }

    #[tracing::instrument(skip(self))]
    async fn follow_logs(&self, app: &str) -> Result<LogStream, SchedulerError> {
        follow::follow(self, app).await
    }

    #[tracing::instrument(skip(self))]
    async fn tail(&self, name: &str, lines: usize) -> String {
        match self.engine.docker().await {
            Ok(docker) => logs::tail_text(&self.engine, docker, name, lines).await,
            Err(_) => String::new(),
        }
    }

    #[tracing::instrument(skip(self, context, output), fields(context = context.len()))]
    async fn build_image(
        &self,
        app: &str,
        context: Vec<u8>,
        output: &(dyn for<'l> Fn(&'l str) + Send + Sync),
    ) -> Result<String, SchedulerError> {
        build::build(self, app, context, output).await
    }

    #[tracing::instrument(skip(self))]
    async fn discard_image(&self, id: &str) -> Result<(), SchedulerError> {
        build::discard(self, id).await
    }
}
