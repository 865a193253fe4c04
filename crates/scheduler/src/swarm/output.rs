//! `logs` and `tail`: what the tasks printed, read from their containers on the manager's
//! engine (the only engine this backend talks to). Tasks on other nodes are not read: bollard
//! has no service-logs call, and a multi-host swarm ships logs with a log driver
//! (docs/OPERATIONS.md).

use bollard::Docker;
use deis_domain::{LogLine, SchedulerError};
use futures_util::future::join_all;

use super::{SwarmScheduler, service, tasks};
use crate::engine::{about, classify, status};
use crate::{labels, logs};

/// The last `lines` lines the app's services printed (every task the swarm still keeps,
/// replaced ones included), oldest first, each attributed to `{type}.{num}`.
pub(crate) async fn logs(
    s: &SwarmScheduler,
    app: &str,
    lines: usize,
) -> Result<Vec<LogLine>, SchedulerError> {
    if lines == 0 {
        return Ok(Vec::new());
    }
    let engine = &s.docker.engine;
    let docker = engine.docker().await?;
    let services = tasks::services(s, docker, Some(app)).await?;
    let tasks = tasks::tasks_of(s, docker, &services).await?;
    let mut sources = Vec::new();
    for service in &services {
        let Some(labels) = service.spec.as_ref().and_then(|s| s.labels.as_ref()) else {
            continue;
        };
        let (Some(kind), Some(num)) = (labels.get(labels::TYPE), labels.get(labels::NUM)) else {
            continue;
        };
        let of_service = service.id.as_ref().and_then(|id| tasks.get(id));
        for task in of_service.into_iter().flatten() {
            if let Some(container) = container_of(task) {
                sources.push((format!("{kind}.{num}"), container));
            }
        }
    }
    let options = logs::timestamped_tail(lines);
    let outputs = join_all(
        sources
            .iter()
            .map(|(_, container)| logs::output(engine, docker, container, options.clone())),
    )
    .await;
    let mut merged = Vec::new();
    for ((source, container), result) in sources.iter().zip(outputs) {
        match result {
            Ok(bytes) => merged.extend(logs::parse(&bytes, source)),
            // Removed since it was listed, or on another node.
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(about(container, classify(e))),
        }
    }
    Ok(logs::newest(merged, lines))
}

/// The last `lines` lines of a container as text: a one-off run's own container, or the
/// newest task of a long-running container's service; empty when it cannot be told.
pub(crate) async fn tail(s: &SwarmScheduler, name: &str, lines: usize) -> String {
    let Ok(docker) = s.docker.engine.docker().await else {
        return String::new();
    };
    if name.contains(&format!(".{}.", labels::RUN_TYPE)) {
        return container_tail(s, docker, name, lines).await;
    }
    let filters = std::collections::HashMap::from([("service", vec![service::name(name)])]);
    let options = bollard::query_parameters::ListTasksOptionsBuilder::new()
        .filters(&filters)
        .build();
    let Ok(tasks) = s
        .docker
        .engine
        .bounded(docker.list_tasks(Some(options)))
        .await
    else {
        return String::new();
    };
    match tasks::current(&tasks).and_then(container_of) {
        Some(container) => container_tail(s, docker, &container, lines).await,
        None => String::new(),
    }
}

/// The last `lines` lines of one container on this engine, best effort.
pub(crate) async fn container_tail(
    s: &SwarmScheduler,
    docker: &Docker,
    container: &str,
    lines: usize,
) -> String {
    logs::tail_text(&s.docker.engine, docker, container, lines).await
}

/// The id of the task's container, once it has one.
fn container_of(task: &bollard::models::Task) -> Option<String> {
    task.status
        .as_ref()?
        .container_status
        .as_ref()?
        .container_id
        .clone()
        .filter(|id| !id.is_empty())
}
