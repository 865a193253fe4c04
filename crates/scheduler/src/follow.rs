//! `follow_logs`: an app's container output as it is printed.
//!
//! One task per follower watches the engine's `start` events of the app's containers (asked
//! from a second before the follow began, so a container starting meanwhile is not missed) and
//! follows each long-running container's log stream in a task of its own, from the moment the
//! follow began (or from its start, for one that starts later). A container's stream ends when
//! it stops; it joins again if it starts again. Dropping the stream aborts every task.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::Docker;
use bollard::query_parameters::{EventsOptionsBuilder, LogsOptionsBuilder};
use deis_domain::{LogLine, LogStream, SchedulerError};
use futures_util::{Stream, StreamExt};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::{DockerScheduler, labels, logs, observe};

/// Lines buffered for a follower that reads slowly; the containers' streams wait beyond it.
const BUFFER: usize = 1024;

/// Starts following the app's long-running containers.
pub(crate) async fn follow(s: &DockerScheduler, app: &str) -> Result<LogStream, SchedulerError> {
    let docker = s.engine.docker().await?.clone();
    let from = OffsetDateTime::now_utc();
    let mut filters = labels::filter(&s.settings.identity, Some(app));
    filters.insert("type".to_owned(), vec!["container".to_owned()]);
    filters.insert("event".to_owned(), vec!["start".to_owned()]);
    let since = (from.unix_timestamp() - 1).to_string();
    let options = EventsOptionsBuilder::new()
        .since(&since)
        .filters(&filters)
        .build();
    let existing = observe::list(
        &s.engine,
        &s.settings.identity,
        s.names.network(),
        Some(app),
    )
    .await?
    .into_iter()
    .filter(|c| c.proc_type != labels::RUN_TYPE)
    .map(|c| (c.name, format!("{}.{}", c.proc_type, c.num)));
    let (lines, received) = mpsc::channel(BUFFER);
    let mut followers = JoinSet::new();
    let mut followed = HashSet::new();
    for (name, source) in existing {
        followed.insert(name.clone());
        followers.spawn(one(docker.clone(), name, source, from, lines.clone()));
    }
    let task = tokio::spawn(async move {
        let mut events = docker.events(Some(options));
        loop {
            tokio::select! {
                () = lines.closed() => return,
                Some(ended) = followers.join_next(), if !followers.is_empty() => {
                    if let Ok(name) = ended {
                        followed.remove(&name);
                    }
                }
                event = events.next() => {
                    let Some(Ok(event)) = event else {
                        tracing::debug!("the engine ended the event stream of a log follower");
                        return;
                    };
                    let Some(attributes) = event.actor.and_then(|a| a.attributes) else {
                        continue;
                    };
                    let (Some(name), Some(proc_type), Some(num)) = (
                        attributes.get("name"),
                        attributes.get(labels::TYPE),
                        attributes.get(labels::NUM),
                    ) else {
                        continue;
                    };
                    if proc_type == labels::RUN_TYPE || !followed.insert(name.clone()) {
                        continue;
                    }
                    // From a second before it started: its first lines may precede the event.
                    let started = event
                        .time
                        .and_then(|t| OffsetDateTime::from_unix_timestamp(t - 1).ok())
                        .unwrap_or(from);
                    let source = format!("{proc_type}.{num}");
                    followers.spawn(one(docker.clone(), name.clone(), source, started, lines.clone()));
                }
            }
        }
    });
    Ok(Following { received, task }.boxed())
}

/// Follows one container's output from `from` until it stops or nobody reads; returns its name.
async fn one(
    docker: Docker,
    name: String,
    source: String,
    from: OffsetDateTime,
    lines: mpsc::Sender<LogLine>,
) -> String {
    let options = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .since(i32::try_from(from.unix_timestamp()).unwrap_or(0))
        .build();
    let mut stream = docker.logs(&name, Some(options));
    loop {
        let chunk = tokio::select! {
            () = lines.closed() => break,
            chunk = stream.next() => chunk,
        };
        match chunk {
            Some(Ok(chunk)) => {
                for line in logs::parse(&chunk.into_bytes(), &source) {
                    if line.at >= from && lines.send(line).await.is_err() {
                        return name;
                    }
                }
            }
            Some(Err(e)) => {
                tracing::debug!(container = %name, error = %e, "a followed log stream ended");
                break;
            }
            None => break,
        }
    }
    name
}

/// The lines of a follow; dropping it stops every task of the follow.
struct Following {
    received: mpsc::Receiver<LogLine>,
    task: JoinHandle<()>,
}

impl Stream for Following {
    type Item = LogLine;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LogLine>> {
        self.received.poll_recv(cx)
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.task.abort();
    }
}
