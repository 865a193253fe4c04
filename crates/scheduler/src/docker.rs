//! [`DockerScheduler`]: the port's entry point, delegating each method to its module.

use async_trait::async_trait;
use bollard::query_parameters::TagImageOptionsBuilder;
use deis_domain::{
    ContainerSpec, LogLine, Observed, RunOutput, RunSpec, Scheduler, SchedulerError,
};

use crate::engine::{Engine, classify, status};
use crate::{DockerSettings, logs, observe, remove, run, start};

/// The [`Scheduler`] on one Docker Engine.
///
/// Containers are named as their spec says and labelled `deis.app`, `deis.release`,
/// `deis.type`, `deis.num` and `deis.controller` (the settings' identity); `list` and
/// `logs` see only containers carrying this controller's identity. Long-running containers
/// restart unless stopped. Placement tags (`ContainerSpec::tags`) are ignored: one engine
/// has nowhere else to place a container.
pub struct DockerScheduler {
    pub(crate) settings: DockerSettings,
    pub(crate) engine: Engine,
}

impl DockerScheduler {
    /// A scheduler that connects on first use; never fails and never blocks, so the
    /// controller starts while the engine is down (its calls then fail as unavailable).
    pub fn new(settings: DockerSettings) -> Self {
        Self {
            engine: Engine::new(&settings),
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
}

#[async_trait]
impl Scheduler for DockerScheduler {
    #[tracing::instrument(skip(self))]
    async fn publish(&self, source: &str, target: &str) -> Result<(), SchedulerError> {
        let docker = self.engine.docker().await?;
        let (repo, tag) = split_reference(target);
        let options = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        match self
            .engine
            .bounded(docker.tag_image(source, Some(options)))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => {
                Err(SchedulerError::Failed(format!("image {source} not found")))
            }
            Err(e) => Err(classify(e)),
        }
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
        observe::list(&self.engine, &self.settings.identity, app).await
    }

    #[tracing::instrument(skip_all, fields(container = %spec.name))]
    async fn run(&self, spec: &RunSpec) -> Result<RunOutput, SchedulerError> {
        run::run(self, spec).await
    }

    #[tracing::instrument(skip(self))]
    async fn logs(&self, app: &str, lines: usize) -> Result<Vec<LogLine>, SchedulerError> {
        logs::logs(&self.engine, &self.settings.identity, app, lines).await
    }

    #[tracing::instrument(skip(self))]
    async fn tail(&self, name: &str, lines: usize) -> String {
        match self.engine.docker().await {
            Ok(docker) => logs::tail_text(&self.engine, docker, name, lines).await,
            Err(_) => String::new(),
        }
    }
}

/// `repo:tag` into its parts; a colon inside the repository (a registry's port) is not a
/// tag separator, and a reference without tag means `latest`.
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_at_the_tag_colon_only() {
        assert_eq!(split_reference("shiny-pony:v3"), ("shiny-pony", "v3"));
        assert_eq!(split_reference("shiny-pony"), ("shiny-pony", "latest"));
        assert_eq!(
            split_reference("localhost:5000/shiny-pony"),
            ("localhost:5000/shiny-pony", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/shiny-pony:v1"),
            ("localhost:5000/shiny-pony", "v1")
        );
    }
}
