//! `remove`: stop with a grace period, then force-remove, many containers at once.

use bollard::Docker;
use bollard::query_parameters::{RemoveContainerOptionsBuilder, StopContainerOptionsBuilder};
use deis_domain::SchedulerError;
use futures_util::future::join_all;

use crate::engine::{Engine, about, classify, combine, status};

/// Stops and removes every named container concurrently; absent names are fine.
pub(crate) async fn remove(
    engine: &Engine,
    grace: std::time::Duration,
    names: &[String],
) -> Result<(), SchedulerError> {
    if names.is_empty() {
        return Ok(());
    }
    let docker = engine.docker().await?;
    let results = join_all(
        names
            .iter()
            .map(|name| stop_and_remove(engine, docker, grace, name)),
    )
    .await;
    let failures: Vec<SchedulerError> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(combine(
            &format!(
                "could not remove {} of {} containers",
                failures.len(),
                names.len()
            ),
            failures,
        ))
    }
}

/// SIGTERM, up to `grace` for the process to exit, then removal (which kills if needed).
async fn stop_and_remove(
    engine: &Engine,
    docker: &Docker,
    grace: std::time::Duration,
    name: &str,
) -> Result<(), SchedulerError> {
    let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
    let options = StopContainerOptionsBuilder::new().t(seconds).build();
    match engine
        .bounded_by(grace, docker.stop_container(name, Some(options)))
        .await
    {
        Ok(()) => {}
        Err(e) if status(&e) == Some(404) => return Ok(()),
        // Removal below kills what did not stop; only its failure matters.
        Err(e) => tracing::debug!(container = name, error = %e, "stop failed; removing anyway"),
    }
    force_remove(engine, docker, name).await
}

/// Removes the container whatever its state; absent (or already being removed) is fine.
pub(crate) async fn force_remove(
    engine: &Engine,
    docker: &Docker,
    name: &str,
) -> Result<(), SchedulerError> {
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    match engine
        .bounded(docker.remove_container(name, Some(options)))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if matches!(status(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(about(name, classify(e))),
    }
}

/// Force-removes every named container concurrently, returning the names that remain.
pub(crate) async fn force_remove_all(
    engine: &Engine,
    docker: &Docker,
    names: &[String],
) -> Vec<String> {
    let results = join_all(names.iter().map(|name| force_remove(engine, docker, name))).await;
    names
        .iter()
        .zip(results)
        .filter(|(_, result)| result.is_err())
        .map(|(name, _)| name.clone())
        .collect()
}
