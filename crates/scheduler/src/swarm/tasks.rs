//! `list`: this controller's services as the port's containers, each in the state of its
//! current task, reached at its node's address and its published port.

use std::collections::HashMap;
use std::net::IpAddr;

use bollard::Docker;
use bollard::models::{Service, Task, TaskState};
use bollard::query_parameters::{
    ListNodesOptions, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};
use deis_domain::timefmt::parse_rfc3339;
use deis_domain::{ContainerState, Observed, SchedulerError};

use super::{SwarmScheduler, service};
use crate::engine::classify;
use crate::{labels, observe};

/// Every service of this controller (of `app`, when given) as a container, sorted by name,
/// followed by the one-off runs (plain containers on the manager, as on the Docker backend).
pub(crate) async fn list(
    s: &SwarmScheduler,
    app: Option<&str>,
) -> Result<Vec<Observed>, SchedulerError> {
    let docker = s.docker.engine.docker().await?;
    let services = services(s, docker, app).await?;
    let tasks = tasks_of(s, docker, &services).await?;
    let nodes = if services.is_empty() {
        HashMap::new()
    } else {
        nodes(s, docker).await?
    };
    let mut observed: Vec<Observed> = services
        .iter()
        .filter_map(|service| {
            let id = service.id.as_deref()?;
            let of_service = tasks.get(id).map(Vec::as_slice).unwrap_or_default();
            observed(service, of_service, &nodes)
        })
        .collect();
    observed.sort_by(|a, b| a.name.cmp(&b.name));
    let runs = observe::list(
        &s.docker.engine,
        &s.docker.settings.identity,
        s.network_name(),
        app,
    )
    .await?;
    observed.extend(runs.into_iter().filter(|c| c.proc_type == labels::RUN_TYPE));
    Ok(observed)
}

/// This controller's services, of `app` when given.
pub(crate) async fn services(
    s: &SwarmScheduler,
    docker: &Docker,
    app: Option<&str>,
) -> Result<Vec<Service>, SchedulerError> {
    let options = ListServicesOptionsBuilder::new()
        .filters(&labels::filter(&s.docker.settings.identity, app))
        .build();
    s.docker
        .engine
        .bounded(docker.list_services(Some(options)))
        .await
        .map_err(classify)
}

/// The tasks of `services` by service id, the swarm's task history included.
pub(crate) async fn tasks_of(
    s: &SwarmScheduler,
    docker: &Docker,
    services: &[Service],
) -> Result<HashMap<String, Vec<Task>>, SchedulerError> {
    let ids: Vec<String> = services.iter().filter_map(|s| s.id.clone()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let filters = HashMap::from([("service", ids)]);
    let options = ListTasksOptionsBuilder::new().filters(&filters).build();
    let tasks = s
        .docker
        .engine
        .bounded(docker.list_tasks(Some(options)))
        .await
        .map_err(classify)?;
    let mut by_service: HashMap<String, Vec<Task>> = HashMap::new();
    for task in tasks {
        if let Some(id) = task.service_id.clone() {
            by_service.entry(id).or_default().push(task);
        }
    }
    Ok(by_service)
}

/// Node id to the address the node is reached at.
async fn nodes(
    s: &SwarmScheduler,
    docker: &Docker,
) -> Result<HashMap<String, IpAddr>, SchedulerError> {
    let nodes = s
        .docker
        .engine
        .bounded(docker.list_nodes(None::<ListNodesOptions>))
        .await
        .map_err(classify)?;
    Ok(nodes
        .into_iter()
        .filter_map(|node| {
            let addr = node.status?.addr?.parse().ok()?;
            Some((node.id?, addr))
        })
        .collect())
}

/// The task that stands for the service now: the newest one the swarm wants running, else
/// the newest of all.
pub(crate) fn current(tasks: &[Task]) -> Option<&Task> {
    let newest = |wanted: bool| {
        tasks
            .iter()
            .filter(|t| !wanted || t.desired_state == Some(TaskState::RUNNING))
            .max_by_key(|t| t.created_at.as_deref().and_then(parse_rfc3339))
    };
    newest(true).or_else(|| newest(false))
}

/// The state of a task of the swarm.
pub(crate) fn state(task: &Task) -> Option<TaskState> {
    task.status.as_ref()?.state
}

/// The port's view of one service, from its labels and its current task.
fn observed(
    service: &Service,
    tasks: &[Task],
    nodes: &HashMap<String, IpAddr>,
) -> Option<Observed> {
    let labels = service.spec.as_ref()?.labels.as_ref()?;
    let parsed = (|| {
        Some(Observed {
            name: labels.get(service::NAME)?.clone(),
            app: labels.get(labels::APP)?.clone(),
            version: labels.get(labels::RELEASE)?.parse().ok()?,
            proc_type: labels.get(labels::TYPE)?.clone(),
            num: labels.get(labels::NUM)?.parse().ok()?,
            state: ContainerState::Created,
            address: None,
            port: None,
        })
    })();
    let Some(mut observed) = parsed else {
        tracing::warn!(service = ?service.spec.as_ref().and_then(|s| s.name.as_deref()), "skipping a service with incomplete deis labels");
        return None;
    };
    let Some(task) = current(tasks) else {
        return Some(observed);
    };
    observed.state = state_of(task, tasks.len() > 1);
    if observed.state == ContainerState::Up {
        observed.address = task.node_id.as_ref().and_then(|n| nodes.get(n)).copied();
        observed.port = published_port(task);
    }
    Some(observed)
}

/// The port the task's `$PORT` is published on, on its node.
pub(crate) fn published_port(task: &Task) -> Option<u16> {
    let target = task
        .spec
        .as_ref()
        .and_then(|s| s.container_spec.as_ref())
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PORT=")))
        .and_then(|p| p.trim().parse::<i64>().ok());
    task.status
        .as_ref()?
        .port_status
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|p| target.is_none() || p.target_port == target)
        .and_then(|p| p.published_port)
        .and_then(|p| u16::try_from(p).ok())
}

/// Task state to port state. A task on its way up is `Created` for a new service and
/// `Crashed` when it replaces an earlier one (the swarm restarts what failed, as the restart
/// policy does on the Docker backend); a task that ended is `Crashed` (it is replaced too).
fn state_of(task: &Task, replaces: bool) -> ContainerState {
    match state(task) {
        Some(TaskState::RUNNING) => ContainerState::Up,
        Some(TaskState::FAILED | TaskState::REJECTED | TaskState::COMPLETE) => {
            ContainerState::Crashed
        }
        Some(TaskState::SHUTDOWN | TaskState::REMOVE | TaskState::ORPHANED) => ContainerState::Down,
        _ if replaces => ContainerState::Crashed,
        _ => ContainerState::Created,
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{EndpointPortConfig, PortStatus, TaskStatus};

    use super::*;

    fn task(created: &str, desired: TaskState, state: TaskState) -> Task {
        Task {
            created_at: Some(created.to_owned()),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                port_status: Some(PortStatus {
                    ports: Some(vec![EndpointPortConfig {
                        target_port: Some(5000),
                        published_port: Some(30001),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_current_task_is_the_newest_one_wanted_running() {
        let tasks = [
            task(
                "2024-05-01T10:00:00.5Z",
                TaskState::SHUTDOWN,
                TaskState::FAILED,
            ),
            task(
                "2024-05-01T10:00:01Z",
                TaskState::RUNNING,
                TaskState::PREPARING,
            ),
            task(
                "2024-05-01T09:00:00Z",
                TaskState::SHUTDOWN,
                TaskState::SHUTDOWN,
            ),
        ];
        let now = current(&tasks).expect("a task");
        assert_eq!(state(now), Some(TaskState::PREPARING));
        assert_eq!(state_of(now, true), ContainerState::Crashed);
        assert_eq!(state_of(now, false), ContainerState::Created);
        assert_eq!(published_port(now), Some(30001));
    }
}
