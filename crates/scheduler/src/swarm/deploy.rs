//! `start` and `remove`: services made and removed, concurrently and all or nothing.
//!
//! `start` creates one service per spec and waits until the swarm reports its task running
//! in two polls in a row (so a process that dies right after starting is a failure, not a
//! success). A service that already exists is reused when it is ours with the same labels and
//! image, replaced when it is ours otherwise, and never touched when it is someone else's.
//! When any spec fails, every service this call created is removed. `remove` removes the
//! services (one-off runs are plain containers, removed as on the Docker backend) and waits
//! until their task containers on this engine are gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{Service, ServiceSpec, TaskState};
use bollard::query_parameters::{
    InspectServiceOptions, ListContainersOptionsBuilder, ListTasksOptionsBuilder,
};
use deis_domain::{ContainerSpec, SchedulerError};
use futures_util::future::join_all;
use tokio::time::Instant;

use super::{SwarmScheduler, network, output, service, tasks};
use crate::engine::{about, classify, combine, status};
use crate::observe::inspect as inspect_container;
use crate::{labels, remove as containers};

/// Pause between two looks at a service's tasks.
const POLL_INTERVAL: Duration = Duration::from_millis(150);
/// Output lines quoted from a task that failed while starting.
const QUOTED_LINES: usize = 5;
/// How long a removal waits for task containers beyond the stop grace.
const REMOVAL_SLACK: Duration = Duration::from_secs(10);

/// How one spec ended.
enum Step {
    Ready,
    Aborted,
    Failed(SchedulerError),
}

/// Creates every spec's service concurrently; all of them run, or none this call made.
pub(crate) async fn start(
    s: &SwarmScheduler,
    specs: &[ContainerSpec],
) -> Result<(), SchedulerError> {
    if specs.is_empty() {
        return Ok(());
    }
    crate::start::listed_once(specs)?;
    let docker = s.docker.engine.docker().await?;
    let network = network::ensure(s, docker).await?;
    let bodies = specs
        .iter()
        .map(|spec| {
            service::spec(&s.docker.settings, &network, spec).map_err(|e| about(&spec.name, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let abort = AtomicBool::new(false);
    let outcomes = join_all(
        specs
            .iter()
            .zip(bodies)
            .map(|(spec, body)| start_one(s, docker, spec, body, &abort)),
    )
    .await;
    let mut created = Vec::new();
    let mut failures = Vec::new();
    for (spec, (made, step)) in specs.iter().zip(outcomes) {
        if made {
            created.push(spec.name.clone());
        }
        if let Step::Failed(e) = step {
            failures.push(e);
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let summary = format!(
        "could not start {} of {} containers",
        failures.len(),
        specs.len()
    );
    if let Err(e) = remove_services(s, docker, &created).await {
        tracing::warn!(error = %e, "could not remove every service of a failed start");
    }
    Err(combine(&summary, failures))
}

/// Create (or reuse) and wait for one spec's service; whether this call created it, and how
/// it ended. Raises `abort` on failure.
async fn start_one(
    s: &SwarmScheduler,
    docker: &Docker,
    spec: &ContainerSpec,
    body: ServiceSpec,
    abort: &AtomicBool,
) -> (bool, Step) {
    let created = match create(s, docker, spec, body).await {
        Ok(created) => created,
        Err(e) => {
            abort.store(true, Ordering::Relaxed);
            return (matches!(e, SchedulerError::Unavailable(_)), Step::Failed(e));
        }
    };
    match await_running(s, docker, spec, created, abort).await {
        Ok(step) => (created, step),
        Err(e) => {
            abort.store(true, Ordering::Relaxed);
            (created, Step::Failed(e))
        }
    }
}

/// Creates the service; `false` when ours already runs the same container.
async fn create(
    s: &SwarmScheduler,
    docker: &Docker,
    spec: &ContainerSpec,
    body: ServiceSpec,
) -> Result<bool, SchedulerError> {
    let engine = &s.docker.engine;
    let name = service::name(&spec.name);
    let attempt = || engine.bounded(docker.create_service(body.clone(), None));
    match attempt().await {
        Ok(_) => return Ok(true),
        Err(e) if status(&e) == Some(409) => {}
        Err(e) => return Err(about(&spec.name, classify(e))),
    }
    if let Some(existing) = inspect(s, docker, &name).await? {
        if !is_ours(s, &existing) {
            return Err(SchedulerError::Failed(format!(
                "{}: service {name} exists and is not this controller's",
                spec.name
            )));
        }
        if same(&existing, &body) {
            tracing::debug!(service = %name, "already exists; reused");
            return Ok(false);
        }
        tracing::info!(service = %name, "replacing a stale service of the same name");
        remove_services(s, docker, std::slice::from_ref(&spec.name)).await?;
    }
    attempt()
        .await
        .map(|_| true)
        .map_err(|e| about(&spec.name, classify(e)))
}

/// Whether an existing service runs what `body` asks for (labels and image).
fn same(existing: &Service, body: &ServiceSpec) -> bool {
    let image = |spec: &ServiceSpec| {
        spec.task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone())
    };
    existing
        .spec
        .as_ref()
        .is_some_and(|spec| spec.labels == body.labels && image(spec) == image(body))
}

/// Waits until the service's task runs, in two polls in a row. A task of a service this call
/// created that fails (or cannot be placed) fails the start, quoting why.
async fn await_running(
    s: &SwarmScheduler,
    docker: &Docker,
    spec: &ContainerSpec,
    created: bool,
    abort: &AtomicBool,
) -> Result<Step, SchedulerError> {
    let name = service::name(&spec.name);
    let deadline = Instant::now() + s.docker.settings.start_timeout;
    let filters = HashMap::from([("service", vec![name.clone()])]);
    let options = ListTasksOptionsBuilder::new().filters(&filters).build();
    let mut seen_running: Option<String> = None;
    loop {
        let tasks = s
            .docker
            .engine
            .bounded(docker.list_tasks(Some(options.clone())))
            .await
            .map_err(|e| about(&spec.name, classify(e)))?;
        if created
            && let Some(failed) = tasks.iter().find(|t| {
                matches!(
                    tasks::state(t),
                    Some(TaskState::FAILED | TaskState::REJECTED | TaskState::COMPLETE)
                )
            })
        {
            return Err(failure(s, docker, spec, failed).await);
        }
        match tasks::current(&tasks) {
            Some(task) if tasks::state(task) == Some(TaskState::RUNNING) => {
                let run = process_run(s, docker, task).await?;
                if run.is_some() && seen_running == run {
                    return Ok(Step::Ready);
                }
                seen_running = run;
            }
            Some(task) if created && tasks::state(task) == Some(TaskState::PENDING) => {
                if let Some(err) = task.status.as_ref().and_then(|s| s.err.as_deref()) {
                    return Err(SchedulerError::Failed(format!(
                        "{}: cannot be placed: {err}",
                        spec.name
                    )));
                }
            }
            _ => seen_running = None,
        }
        if abort.load(Ordering::Relaxed) {
            return Ok(Step::Aborted);
        }
        if Instant::now() >= deadline {
            return Err(SchedulerError::Failed(format!(
                "{}: not running after {}s",
                spec.name,
                s.docker.settings.start_timeout.as_secs_f32()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// One run of a running task's process: the task and, when its container is on this engine,
/// the container's start time; `None` when the container is there but not running. The swarm
/// reports task states some time after the fact, so a process that exits at once may still
/// be `running` in two looks at the task; the container's own state is current.
async fn process_run(
    s: &SwarmScheduler,
    docker: &Docker,
    task: &bollard::models::Task,
) -> Result<Option<String>, SchedulerError> {
    let Some(id) = task.id.clone() else {
        return Ok(None);
    };
    let container = task
        .status
        .as_ref()
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.container_id.as_deref());
    let Some(container) = container else {
        return Ok(Some(id));
    };
    let Some(info) = inspect_container(&s.docker.engine, docker, container).await? else {
        // On another node: the task's state is all there is.
        return Ok(Some(id));
    };
    let state = info.state.unwrap_or_default();
    if state.running != Some(true) || state.restarting == Some(true) {
        return Ok(None);
    }
    Ok(Some(format!(
        "{id} {}",
        state.started_at.unwrap_or_default()
    )))
}

/// Why a task failed: the swarm's error, the exit code and the end of its output.
async fn failure(
    s: &SwarmScheduler,
    docker: &Docker,
    spec: &ContainerSpec,
    task: &bollard::models::Task,
) -> SchedulerError {
    let status = task.status.clone().unwrap_or_default();
    let err = status.err.unwrap_or_default();
    if err.contains("No such image") {
        return SchedulerError::Failed(format!("{}: image {} not found", spec.name, spec.image));
    }
    let code = status
        .container_status
        .as_ref()
        .and_then(|c| c.exit_code)
        .unwrap_or_default();
    let mut message = format!(
        "{}: exited with code {code} right after starting",
        spec.name
    );
    if !err.is_empty() && !err.starts_with("task: non-zero exit") {
        message.push_str(&format!(" ({err})"));
    }
    if let Some(container) = status.container_status.and_then(|c| c.container_id) {
        let tail = output::container_tail(s, docker, &container, QUOTED_LINES).await;
        if !tail.trim().is_empty() {
            message.push_str(&format!("; last output: {}", tail.trim()));
        }
    }
    SchedulerError::Failed(message)
}

/// Removes the containers: services for long-running ones, containers for one-off runs.
pub(crate) async fn remove(s: &SwarmScheduler, names: &[String]) -> Result<(), SchedulerError> {
    if names.is_empty() {
        return Ok(());
    }
    let run = format!(".{}.", labels::RUN_TYPE);
    let (runs, services): (Vec<String>, Vec<String>) =
        names.iter().cloned().partition(|n| n.contains(&run));
    let docker = s.docker.engine.docker().await?;
    let (from_services, from_runs) = tokio::join!(
        remove_services(s, docker, &services),
        containers::remove(&s.docker.engine, s.docker.settings.stop_timeout, &runs)
    );
    from_services.and(from_runs)
}

/// Removes the services of the named containers concurrently (absent ones are fine, someone
/// else's are refused) and waits until their task containers on this engine are gone.
async fn remove_services(
    s: &SwarmScheduler,
    docker: &Docker,
    containers: &[String],
) -> Result<(), SchedulerError> {
    let results = join_all(containers.iter().map(|c| remove_service(s, docker, c))).await;
    let failures: Vec<SchedulerError> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(combine(
            &format!(
                "could not remove {} of {} containers",
                failures.len(),
                containers.len()
            ),
            failures,
        ))
    }
}

async fn remove_service(
    s: &SwarmScheduler,
    docker: &Docker,
    container: &str,
) -> Result<(), SchedulerError> {
    let engine = &s.docker.engine;
    let name = service::name(container);
    let Some(existing) = inspect(s, docker, &name).await? else {
        return Ok(());
    };
    if !is_ours(s, &existing) {
        return Err(SchedulerError::Failed(format!(
            "{container}: service {name} is not this controller's"
        )));
    }
    let Some(id) = existing.id else {
        return Ok(());
    };
    match engine.bounded(docker.delete_service(&id)).await {
        Ok(()) => {}
        Err(e) if status(&e) == Some(404) => {}
        Err(e) => return Err(about(container, classify(e))),
    }
    let filters = HashMap::from([("label", vec![format!("com.docker.swarm.service.id={id}")])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let deadline = Instant::now() + s.docker.settings.stop_timeout + REMOVAL_SLACK;
    loop {
        let left = engine
            .bounded(docker.list_containers(Some(options.clone())))
            .await
            .map_err(|e| about(container, classify(e)))?;
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            tracing::warn!(service = %name, left = left.len(), "task containers still there after the removal of their service");
            return Ok(());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The service of that name, `None` when there is none.
async fn inspect(
    s: &SwarmScheduler,
    docker: &Docker,
    name: &str,
) -> Result<Option<Service>, SchedulerError> {
    match s
        .docker
        .engine
        .bounded(docker.inspect_service(name, None::<InspectServiceOptions>))
        .await
    {
        Ok(service) => Ok(Some(service)),
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(about(name, classify(e))),
    }
}

/// Whether the service carries this controller's identity.
fn is_ours(s: &SwarmScheduler, service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|spec| spec.labels.as_ref())
        .and_then(|l| l.get(labels::CONTROLLER))
        == Some(&s.docker.settings.identity)
}
