//! `run`: a one-off command in a fresh container, to completion or its time limit.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptions, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions, WaitContainerOptions,
};
use deis_domain::{RunOutput, RunSpec, SchedulerError};
use futures_util::StreamExt;

use crate::engine::{Engine, classify, status};
use crate::network::PlatformNetwork;
use crate::observe::{inspect, is_ours, taken};
use crate::remove::force_remove;
use crate::{DockerScheduler, config, logs, network};

/// Exit code reported for a command killed at its time limit (as coreutils' `timeout`).
pub(crate) const TIMED_OUT: i64 = 124;

/// Creates, starts and waits for the container, then removes it whatever happened. If
/// the caller stops waiting (the request is cancelled), the container is still removed.
pub(crate) async fn run(s: &DockerScheduler, spec: &RunSpec) -> Result<RunOutput, SchedulerError> {
    let docker = s.engine.docker().await?;
    let network = network::ensure(s, docker).await?;
    run_on(s, &network, spec).await
}

/// `run` in a container joining `network` (the swarm backend's network, attachable by
/// plain containers, or the bridge of this engine).
pub(crate) async fn run_on(
    s: &DockerScheduler,
    network: &PlatformNetwork,
    spec: &RunSpec,
) -> Result<RunOutput, SchedulerError> {
    let docker = s.engine.docker().await?;
    create(s, docker, network, spec, None).await?;
    let mut abandoned = RemoveOnDrop {
        docker: docker.clone(),
        name: spec.name.clone(),
        armed: true,
    };
    let result = run_created(&s.engine, docker, spec).await;
    abandoned.armed = false;
    if let Err(e) = force_remove(&s.engine, docker, &spec.name).await {
        tracing::warn!(container = %spec.name, error = %e, "could not remove a one-off container");
    }
    result
}

/// Creates the run container, replacing a leftover of ours with the same name. `attached`
/// (with whether it has a terminal) opens its standard input for an attach.
pub(crate) async fn create(
    s: &DockerScheduler,
    docker: &Docker,
    network: &PlatformNetwork,
    spec: &RunSpec,
    attached: Option<bool>,
) -> Result<(), SchedulerError> {
    let options = CreateContainerOptionsBuilder::new()
        .name(&spec.name)
        .build();
    let mut body = config::one_off(&s.settings, network, spec)?;
    if let Some(tty) = attached {
        body.tty = Some(tty);
        body.open_stdin = Some(true);
        body.stdin_once = Some(true);
        body.attach_stdin = Some(true);
        body.attach_stdout = Some(true);
        body.attach_stderr = Some(true);
    }
    let attempt = || {
        s.engine
            .bounded(docker.create_container(Some(options.clone()), body.clone()))
    };
    let refused = match attempt().await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    match status(&refused) {
        Some(404) => Err(SchedulerError::Failed(format!(
            "image {} not found",
            spec.image
        ))),
        Some(409) => {
            // A run that crashed with the controller left its container behind.
            let existing = inspect(&s.engine, docker, &spec.name).await?;
            if existing.is_some_and(|info| !is_ours(&info, &s.settings.identity)) {
                return Err(taken(&spec.name));
            }
            force_remove(&s.engine, docker, &spec.name).await?;
            attempt().await.map(|_| ()).map_err(classify)
        }
        _ => Err(classify(refused)),
    }
}

/// Starts the container and collects its output until it exits or the time limit hits.
async fn run_created(
    engine: &Engine,
    docker: &Docker,
    spec: &RunSpec,
) -> Result<RunOutput, SchedulerError> {
    engine
        .bounded(docker.start_container(&spec.name, None::<StartContainerOptions>))
        .await
        .map_err(classify)?;
    let mut kept = logs::Bounded::new(spec.output_limit);
    match tokio::time::timeout(spec.timeout, to_exit(docker, &spec.name, &mut kept)).await {
        Ok(finished) => finished.map(|exit_code| kept.into_output(exit_code)),
        Err(_) => {
            killed(engine, docker, &spec.name, spec.timeout, &mut kept).await;
            Ok(kept.into_output(TIMED_OUT))
        }
    }
}

/// Follows the output into `kept` while waiting for the exit code.
async fn to_exit(
    docker: &Docker,
    name: &str,
    kept: &mut logs::Bounded,
) -> Result<i64, SchedulerError> {
    let follow = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let (read, exit_code) = tokio::join!(
        logs::collect_into(docker, name, follow, kept),
        exit_code(docker, name)
    );
    read.map_err(classify)?;
    exit_code
}

/// Waits for the container to stop and returns its exit code. bollard reports a
/// non-zero exit as an error carrying the code.
pub(crate) async fn exit_code(docker: &Docker, name: &str) -> Result<i64, SchedulerError> {
    let mut waits = docker.wait_container(name, None::<WaitContainerOptions>);
    match waits.next().await {
        Some(Ok(response)) => Ok(response.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(classify(e)),
        None => Err(SchedulerError::Failed(format!(
            "{name}: the engine ended the wait without an exit code"
        ))),
    }
}

/// Kills a container that ran out of time; `kept` holds what it printed so far and gets the
/// reason.
async fn killed(
    engine: &Engine,
    docker: &Docker,
    name: &str,
    limit: Duration,
    kept: &mut logs::Bounded,
) {
    if let Err(e) = engine
        .bounded(docker.kill_container(name, None::<KillContainerOptions>))
        .await
    {
        tracing::warn!(container = name, error = %e, "could not kill a timed-out run");
    }
    kept.note(&format!(
        "killed after the time limit of {}s",
        limit.as_secs_f32()
    ));
}

/// Removes the container in the background if `run` is dropped while it is armed, that
/// is before reaching its own cleanup.
pub(crate) struct RemoveOnDrop {
    pub(crate) docker: Docker,
    pub(crate) name: String,
    pub(crate) armed: bool,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let docker = self.docker.clone();
        let name = std::mem::take(&mut self.name);
        runtime.spawn(async move {
            let options = RemoveContainerOptionsBuilder::new().force(true).build();
            if let Err(e) = docker.remove_container(&name, Some(options)).await {
                tracing::warn!(container = %name, error = %e, "could not remove an abandoned run");
            }
        });
    }
}
