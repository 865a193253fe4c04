//! `run_attached`: a one-off command with its standard input, output and terminal connected
//! to the caller.
//!
//! The container is created with an open standard input (and a terminal when asked), attached
//! before it starts (so no output is missed) and started; one task then moves input to the
//! container and output to the caller until the output ends, reads the exit code and removes
//! the container. The time limit kills the command (exit code 124). Dropping the caller's
//! stream aborts the task, whose guard removes the container (killing the command).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::Docker;
use bollard::container::{AttachContainerResults, LogOutput};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptions, RemoveContainerOptionsBuilder,
    ResizeContainerTTYOptionsBuilder, StartContainerOptions,
};
use deis_domain::{RunEvent, RunEvents, RunInput, RunInputs, RunSpec, SchedulerError, TtySize};
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::{classify, status};
use crate::network::PlatformNetwork;
use crate::run::{RemoveOnDrop, TIMED_OUT, create, exit_code};
use crate::{DockerScheduler, network};

/// How long the removal of an ended run may take.
const REMOVE_LIMIT: Duration = Duration::from_secs(30);

/// Output chunks buffered for a caller that reads slowly; the command waits beyond it.
const BUFFER: usize = 64;

/// Creates, attaches and starts the run container on this engine's platform network; the
/// task takes it from there.
pub(crate) async fn run_attached(
    s: &DockerScheduler,
    spec: &RunSpec,
    tty: Option<TtySize>,
    input: RunInputs,
) -> Result<RunEvents, SchedulerError> {
    let docker = s.engine.docker().await?;
    let network = network::ensure(s, docker).await?;
    run_attached_on(s, &network, spec, tty, input).await
}

/// `run_attached` in a container joining `network` (the swarm backend's network, attachable
/// by plain containers, or the bridge of this engine).
pub(crate) async fn run_attached_on(
    s: &DockerScheduler,
    network: &PlatformNetwork,
    spec: &RunSpec,
    tty: Option<TtySize>,
    input: RunInputs,
) -> Result<RunEvents, SchedulerError> {
    let docker = s.engine.docker().await?.clone();
    create(s, &docker, network, spec, Some(tty.is_some())).await?;
    let guard = RemoveOnDrop {
        docker: docker.clone(),
        name: spec.name.clone(),
        armed: true,
    };
    let options = AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .build();
    let attached = s
        .engine
        .bounded(docker.attach_container(&spec.name, Some(options)))
        .await
        .map_err(classify)?;
    s.engine
        .bounded(docker.start_container(&spec.name, None::<StartContainerOptions>))
        .await
        .map_err(classify)?;
    if let Some(size) = tty {
        resize(&docker, &spec.name, size).await;
    }
    let (events, received) = mpsc::channel(BUFFER);
    let task = tokio::spawn(drive(docker, spec.clone(), attached, input, events, guard));
    Ok(Attached { received, task }.boxed())
}

/// Moves input and output until the command ends, then reports its exit code and removes it.
async fn drive(
    docker: Docker,
    spec: RunSpec,
    attached: AttachContainerResults,
    mut input: RunInputs,
    events: mpsc::Sender<Result<RunEvent, SchedulerError>>,
    mut guard: RemoveOnDrop,
) {
    let AttachContainerResults {
        mut output,
        input: mut stdin,
    } = attached;
    let name = spec.name.as_str();
    let limit = tokio::time::sleep(spec.timeout);
    tokio::pin!(limit);
    let mut input_open = true;
    let mut timed_out = false;
    loop {
        tokio::select! {
            () = events.closed() => return,
            () = &mut limit, if !timed_out => {
                timed_out = true;
                if let Err(e) = docker.kill_container(name, None::<KillContainerOptions>).await {
                    tracing::warn!(container = name, error = %e, "could not kill a timed-out run");
                }
            }
            given = input.next(), if input_open => match given {
                Some(RunInput::Stdin(bytes)) => {
                    if stdin.write_all(&bytes).await.and(stdin.flush().await).is_err() {
                        input_open = false;
                    }
                }
                Some(RunInput::Resize(size)) => resize(&docker, name, size).await,
                Some(RunInput::CloseStdin) | None => {
                    input_open = false;
                    if let Err(e) = stdin.shutdown().await {
                        tracing::debug!(container = name, error = %e, "closing a run's input");
                    }
                }
            },
            printed = output.next() => match printed {
                Some(Ok(chunk)) => {
                    let event = match chunk {
                        LogOutput::StdErr { message } => RunEvent::Stderr(message.to_vec()),
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            RunEvent::Stdout(message.to_vec())
                        }
                        LogOutput::StdIn { .. } => continue,
                    };
                    if events.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(container = name, error = %e, "a run's output ended");
                    break;
                }
                None => break,
            },
        }
    }
    let code = match exit_code(&docker, name).await {
        Ok(_) if timed_out => {
            let note = format!(
                "killed after the time limit of {}s\n",
                spec.timeout.as_secs_f32()
            );
            let _ = events.send(Ok(RunEvent::Stderr(note.into_bytes()))).await;
            Ok(TIMED_OUT)
        }
        other => other,
    };
    guard.armed = false;
    if let Err(e) = force_remove_plain(&docker, name).await {
        tracing::warn!(container = name, error = %e, "could not remove a one-off container");
    }
    let _ = events.send(code.map(RunEvent::Exit)).await;
}

/// Removes the ended container (gone already, or being removed, is fine).
async fn force_remove_plain(docker: &Docker, name: &str) -> Result<(), String> {
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    match tokio::time::timeout(REMOVE_LIMIT, docker.remove_container(name, Some(options))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if matches!(status(&e), Some(404 | 409)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {REMOVE_LIMIT:?}")),
    }
}

/// Sets the terminal size of a run; best effort (a run that ended has no terminal).
async fn resize(docker: &Docker, name: &str, size: TtySize) {
    let options = ResizeContainerTTYOptionsBuilder::new()
        .w(i32::from(size.cols))
        .h(i32::from(size.rows))
        .build();
    if let Err(e) = docker.resize_container_tty(name, options).await {
        tracing::debug!(container = name, error = %e, "could not resize a run's terminal");
    }
}

/// The events of an attached run; dropping it aborts the task (which removes the container).
struct Attached {
    received: mpsc::Receiver<Result<RunEvent, SchedulerError>>,
    task: JoinHandle<()>,
}

impl Stream for Attached {
    type Item = Result<RunEvent, SchedulerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.received.poll_recv(cx)
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.task.abort();
    }
}
