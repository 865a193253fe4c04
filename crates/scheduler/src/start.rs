//! `start`: make many containers exist and run, concurrently and all or nothing.
//!
//! Each spec goes through create, start and a wait until the engine reports it running,
//! all specs at once. A name that is already taken is either reused (ours, same labels,
//! running) or replaced, so reconciling after a crash can simply start what is missing.
//! When any spec fails, the others stop waiting and every container this call created is
//! force-removed before the failure is returned. A call cancelled halfway (its future
//! dropped) leaves what it made so far; the controller's reconcile removes or completes it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, StartContainerOptions,
};
use deis_domain::{ContainerSpec, SchedulerError};
use futures_util::TryStreamExt;
use futures_util::future::join_all;
use tokio::time::Instant;

use crate::engine::{about, classify, combine, status};
use crate::observe::{inspect, is_ours, label, taken};
use crate::remove::{force_remove, force_remove_all};
use crate::{DockerScheduler, config, labels, logs, network};

/// Pause between two inspections of a container that is not confirmed running yet.
const POLL_INTERVAL: Duration = Duration::from_millis(75);
/// Output lines quoted from a container that exited during start.
const QUOTED_LINES: usize = 5;

/// How one spec ended.
enum Step {
    /// Running (just started, or found running from an earlier call).
    Ready,
    /// Stopped early because another spec of the same call failed.
    Aborted,
    /// Failed; the message names the container.
    Failed(SchedulerError),
}

/// One spec's result, and whether this call created its container (to roll it back).
struct Outcome {
    created: bool,
    step: Step,
}

/// What `create` found or made.
enum Created {
    /// A new container from this call.
    New,
    /// Our running container of the same name and labels, left as it was.
    Reused,
}

/// Refuses specs that name one container twice (before anything reaches the engine).
pub(crate) fn listed_once(specs: &[ContainerSpec]) -> Result<(), SchedulerError> {
    let mut names = HashSet::new();
    match specs.iter().find(|spec| !names.insert(&spec.name)) {
        Some(twice) => Err(SchedulerError::Failed(format!(
            "{}: the same container is listed twice",
            twice.name
        ))),
        None => Ok(()),
    }
}

/// Creates and starts every spec concurrently; all of them run, or none this call made.
pub(crate) async fn start(
    s: &DockerScheduler,
    specs: &[ContainerSpec],
) -> Result<(), SchedulerError> {
    if specs.is_empty() {
        return Ok(());
    }
    listed_once(specs)?;
    let docker = s.engine.docker().await?;
    let network = network::ensure(s, docker).await?;
    // Refuse what cannot work before creating anything: nothing to roll back then.
    let bodies = specs
        .iter()
        .map(|spec| {
            config::long_running(&s.settings, &network, spec).map_err(|e| about(&spec.name, e))
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
    for (spec, outcome) in specs.iter().zip(outcomes) {
        if outcome.created {
            created.push(spec.name.clone());
        }
        if let Step::Failed(e) = outcome.step {
            failures.push(e);
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let failed = failures.len();
    let left = force_remove_all(&s.engine, docker, &created).await;
    let mut summary = format!("could not start {failed} of {} containers", specs.len());
    if !left.is_empty() {
        summary.push_str(&format!(" (and could not remove {})", left.join(", ")));
    }
    tracing::info!(
        failed,
        total = specs.len(),
        removed = created.len() - left.len(),
        "start failed; removed the containers it had created"
    );
    Err(combine(&summary, failures))
}

/// Create, start and wait for one spec; raises `abort` when it fails.
async fn start_one(
    s: &DockerScheduler,
    docker: &Docker,
    spec: &ContainerSpec,
    body: ContainerCreateBody,
    abort: &AtomicBool,
) -> Outcome {
    let created = match create(s, docker, spec, body).await {
        Ok(Created::Reused) => {
            return Outcome {
                created: false,
                step: Step::Ready,
            };
        }
        Ok(Created::New) => true,
        Err(e) => {
            abort.store(true, Ordering::Relaxed);
            // An unanswered create may still have happened: roll the name back to be sure.
            return Outcome {
                created: matches!(e, SchedulerError::Unavailable(_)),
                step: Step::Failed(e),
            };
        }
    };
    let step = match launch(s, docker, &spec.name, abort).await {
        Ok(step) => step,
        Err(e) => {
            abort.store(true, Ordering::Relaxed);
            Step::Failed(e)
        }
    };
    Outcome { created, step }
}

/// Creates the container, or reuses/replaces the one already holding its name.
async fn create(
    s: &DockerScheduler,
    docker: &Docker,
    spec: &ContainerSpec,
    body: ContainerCreateBody,
) -> Result<Created, SchedulerError> {
    let options = CreateContainerOptionsBuilder::new()
        .name(&spec.name)
        .build();
    let attempt = || {
        s.engine
            .bounded(docker.create_container(Some(options.clone()), body.clone()))
    };
    match attempt().await {
        Ok(_) => return Ok(Created::New),
        Err(e) if status(&e) == Some(409) => {}
        Err(e) => return Err(create_error(spec, e)),
    }
    if let Some(existing) = inspect(&s.engine, docker, &spec.name).await? {
        if !is_ours(&existing, &s.settings.identity) {
            return Err(taken(&spec.name));
        }
        if is_running(&existing) && has_labels_of(s, &existing, spec) && is_confined(s, &existing) {
            tracing::debug!(container = %spec.name, "already running; reused");
            return Ok(Created::Reused);
        }
        tracing::info!(container = %spec.name, "replacing a stale container of the same name");
        force_remove(&s.engine, docker, &spec.name).await?;
    }
    attempt()
        .await
        .map(|_| Created::New)
        .map_err(|e| create_error(spec, e))
}

/// A refused create: a missing image gets a message of its own.
fn create_error(spec: &ContainerSpec, e: bollard::errors::Error) -> SchedulerError {
    if status(&e) == Some(404) {
        SchedulerError::Failed(format!("{}: image {} not found", spec.name, spec.image))
    } else {
        about(&spec.name, classify(e))
    }
}

/// Starts a created container and waits until it is running.
async fn launch(
    s: &DockerScheduler,
    docker: &Docker,
    name: &str,
    abort: &AtomicBool,
) -> Result<Step, SchedulerError> {
    if abort.load(Ordering::Relaxed) {
        return Ok(Step::Aborted);
    }
    s.engine
        .bounded(docker.start_container(name, None::<StartContainerOptions>))
        .await
        .map_err(|e| about(name, classify(e)))?;
    await_running(s, docker, name, abort).await
}

/// Polls the container until two inspections in a row see the same run of its process
/// (same start time, never restarted), so a process that dies right after starting counts
/// as a failure rather than a success. Gives up after the start timeout.
async fn await_running(
    s: &DockerScheduler,
    docker: &Docker,
    name: &str,
    abort: &AtomicBool,
) -> Result<Step, SchedulerError> {
    let deadline = Instant::now() + s.settings.start_timeout;
    let mut seen_start: Option<String> = None;
    loop {
        let info = inspect(&s.engine, docker, name).await?.ok_or_else(|| {
            SchedulerError::Failed(format!("{name}: removed while it was starting"))
        })?;
        let state = info.state.clone().unwrap_or_default();
        match state.status {
            Some(ContainerStateStatusEnum::RUNNING) if info.restart_count.unwrap_or(0) == 0 => {
                let started = state.started_at.unwrap_or_default();
                if seen_start.as_ref() == Some(&started) {
                    return Ok(Step::Ready);
                }
                seen_start = Some(started);
            }
            None | Some(ContainerStateStatusEnum::EMPTY | ContainerStateStatusEnum::CREATED) => {}
            Some(_) => return Err(exited(s, docker, name, &info).await),
        }
        if abort.load(Ordering::Relaxed) {
            return Ok(Step::Aborted);
        }
        if Instant::now() >= deadline {
            return Err(SchedulerError::Failed(format!(
                "{name}: not running after {}s",
                s.settings.start_timeout.as_secs_f32()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The failure of a container that stopped (or restarted) while starting, quoting the
/// end of its output, which usually says why.
async fn exited(
    s: &DockerScheduler,
    docker: &Docker,
    name: &str,
    info: &ContainerInspectResponse,
) -> SchedulerError {
    let state = info.state.clone().unwrap_or_default();
    // Once the engine has restarted the process, the state holds the new run's (a running
    // process has code 0): the engine's `die` event keeps the code of the first exit.
    let code = match (state.status, info.restart_count.unwrap_or(0)) {
        (Some(ContainerStateStatusEnum::RUNNING), restarts) if restarts > 0 => {
            first_exit_code(s, docker, name).await
        }
        _ => state.exit_code,
    };
    let mut message = match code {
        Some(code) => format!("{name}: exited with code {code} right after starting"),
        None => format!("{name}: exited right after starting and was restarted"),
    };
    if state.oom_killed == Some(true) {
        message.push_str(" (out of memory)");
    }
    let tail = logs::tail_text(&s.engine, docker, name, QUOTED_LINES).await;
    if !tail.trim().is_empty() {
        message.push_str(&format!("; last output: {}", tail.trim()));
    }
    SchedulerError::Failed(message)
}

/// The exit code of the container's first `die` event within the last start timeout, from
/// the engine's event log (bounded; `None` when the engine no longer has it).
async fn first_exit_code(s: &DockerScheduler, docker: &Docker, name: &str) -> Option<i64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let since = now.saturating_sub(s.settings.start_timeout.as_secs() + 60);
    let filters = HashMap::from([("container", vec![name]), ("event", vec!["die"])]);
    let options = EventsOptionsBuilder::new()
        .since(&since.to_string())
        .until(&(now + 1).to_string())
        .filters(&filters)
        .build();
    let events = s
        .engine
        .bounded(docker.events(Some(options)).try_collect::<Vec<_>>())
        .await
        .ok()?;
    events.iter().find_map(|event| {
        event
            .actor
            .as_ref()?
            .attributes
            .as_ref()?
            .get("exitCode")?
            .parse()
            .ok()
    })
}

fn is_running(info: &ContainerInspectResponse) -> bool {
    info.state.as_ref().is_some_and(|state| {
        state.status == Some(ContainerStateStatusEnum::RUNNING) && state.restarting != Some(true)
    })
}

/// Whether the container is on the platform network (one made before the network existed is
/// replaced, so that every running container is isolated).
fn is_confined(s: &DockerScheduler, info: &ContainerInspectResponse) -> bool {
    info.network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .is_some_and(|networks| networks.len() == 1 && networks.contains_key(s.names.network()))
}

fn has_labels_of(
    s: &DockerScheduler,
    info: &ContainerInspectResponse,
    spec: &ContainerSpec,
) -> bool {
    let wanted = labels::for_container(
        &s.settings.identity,
        &spec.app,
        spec.version,
        &spec.proc_type,
        spec.num,
    );
    wanted
        .iter()
        .all(|(key, value)| label(info, key) == Some(value.as_str()))
}
