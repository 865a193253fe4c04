//! `logs`: the recent output of an app's processes, merged into one timeline.

use bollard::Docker;
use bollard::query_parameters::{LogsOptions, LogsOptionsBuilder};
use deis_domain::timefmt::parse_rfc3339;
use deis_domain::{LogLine, Observed, RunOutput, SchedulerError};
use futures_util::StreamExt;
use futures_util::future::join_all;
use time::OffsetDateTime;

use crate::engine::{Engine, about, classify, status};
use crate::{DockerScheduler, labels, observe};

/// The last `lines` lines printed by the app's long-running containers (not its one-off
/// runs), oldest first, each attributed to `{type}.{num}`.
pub(crate) async fn logs(
    s: &DockerScheduler,
    app: &str,
    lines: usize,
) -> Result<Vec<LogLine>, SchedulerError> {
    if lines == 0 {
        return Ok(Vec::new());
    }
    let engine = &s.engine;
    let network = s.names.network();
    let containers: Vec<Observed> = observe::list(engine, &s.settings.identity, network, Some(app))
        .await?
        .into_iter()
        .filter(|c| c.proc_type != labels::RUN_TYPE)
        .collect();
    let docker = engine.docker().await?;
    let options = timestamped_tail(lines);
    let outputs = join_all(
        containers
            .iter()
            .map(|c| output(engine, docker, &c.name, options.clone())),
    )
    .await;
    let mut merged = Vec::new();
    for (container, result) in containers.iter().zip(outputs) {
        match result {
            Ok(bytes) => {
                let source = format!("{}.{}", container.proc_type, container.num);
                merged.extend(parse(&bytes, &source));
            }
            // Removed since it was listed: it has nothing to say any more.
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(about(&container.name, classify(e))),
        }
    }
    Ok(newest(merged, lines))
}

/// The last `lines` lines of one container's output as plain text, best effort (empty
/// when the engine cannot say); used to explain why a container died.
pub(crate) async fn tail_text(
    engine: &Engine,
    docker: &Docker,
    name: &str,
    lines: usize,
) -> String {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    output(engine, docker, name, options)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// All the bytes a logs request returns, stdout and stderr as the engine interleaves them.
pub(crate) async fn output(
    engine: &Engine,
    docker: &Docker,
    name: &str,
    options: LogsOptions,
) -> Result<Vec<u8>, bollard::errors::Error> {
    engine.bounded(collect(docker, name, options)).await
}

/// Reads a logs stream to its end (with `follow`, until the container stops).
pub(crate) async fn collect(
    docker: &Docker,
    name: &str,
    options: LogsOptions,
) -> Result<Vec<u8>, bollard::errors::Error> {
    let mut stream = docker.logs(name, Some(options));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?.into_bytes());
    }
    Ok(bytes)
}

/// Output kept up to a limit; what comes after is counted as cut and dropped, so a command
/// printing without end costs no memory beyond the limit.
pub(crate) struct Bounded {
    bytes: Vec<u8>,
    limit: usize,
    truncated: bool,
}

impl Bounded {
    /// Keeps at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            truncated: false,
        }
    }

    /// Keeps what fits of `chunk`.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        let room = self.limit.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// Adds a line of the platform's own (beyond the limit: it is short).
    pub(crate) fn note(&mut self, line: &str) {
        if !self.bytes.is_empty() && !self.bytes.ends_with(b"\n") {
            self.bytes.push(b'\n');
        }
        self.bytes.extend_from_slice(line.as_bytes());
        self.bytes.push(b'\n');
    }

    /// The answer of a run that exited with `exit_code`.
    pub(crate) fn into_output(self, exit_code: i64) -> RunOutput {
        RunOutput {
            exit_code,
            output: String::from_utf8_lossy(&self.bytes).into_owned(),
            truncated: self.truncated,
        }
    }
}

/// Reads a logs stream to its end (with `follow`, until the container stops) into `kept`.
pub(crate) async fn collect_into(
    docker: &Docker,
    name: &str,
    options: LogsOptions,
    kept: &mut Bounded,
) -> Result<(), bollard::errors::Error> {
    let mut stream = docker.logs(name, Some(options));
    while let Some(chunk) = stream.next().await {
        kept.push(&chunk?.into_bytes());
    }
    Ok(())
}

/// Splits timestamped output (`2024-05-01T10:00:00.123456789Z text`) into lines. A line
/// without a readable timestamp (a long line the engine split) takes its predecessor's.
pub(crate) fn parse(bytes: &[u8], source: &str) -> Vec<LogLine> {
    let text = String::from_utf8_lossy(bytes);
    let mut at = OffsetDateTime::UNIX_EPOCH;
    text.lines()
        .map(|line| {
            let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
            let text = match parse_rfc3339(stamp) {
                Some(t) => {
                    at = t;
                    rest
                }
                None => line,
            };
            LogLine {
                at,
                source: source.to_owned(),
                text: text.to_owned(),
            }
        })
        .collect()
}

/// Oldest first, the last `lines` of them; equal instants keep their container's order.
pub(crate) fn newest(mut all: Vec<LogLine>, lines: usize) -> Vec<LogLine> {
    all.sort_by_key(|line| line.at);
    let skip = all.len().saturating_sub(lines);
    all.split_off(skip)
}

/// Options reading the last `lines` of stdout and stderr, each line with its timestamp.
pub(crate) fn timestamped_tail(lines: usize) -> LogsOptions {
    LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&lines.to_string())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn engine_timestamps_with_nanoseconds_are_read() {
        let lines = parse(
            b"2024-05-01T10:00:00.123456789Z hello world\n2024-05-01T10:00:01Z \n",
            "web.1",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].at, datetime!(2024-05-01 10:00:00.123456789 UTC));
        assert_eq!(lines[0].source, "web.1");
        assert_eq!(lines[0].text, "hello world");
        assert_eq!(lines[1].text, "");
    }

    #[test]
    fn a_line_without_timestamp_inherits_the_previous_one() {
        let lines = parse(b"2024-05-01T10:00:00Z first\ncontinued\n", "worker.2");
        assert_eq!(lines[1].at, lines[0].at);
        assert_eq!(lines[1].text, "continued");
    }

    #[test]
    fn bounded_output_keeps_the_beginning_and_says_it_was_cut() {
        let mut kept = Bounded::new(8);
        kept.push(b"12345");
        kept.push(b"67890");
        kept.push(b"abc");
        kept.note("killed");
        let out = kept.into_output(3);
        assert_eq!(out.output, "12345678\nkilled\n");
        assert!(out.truncated);
        let mut whole = Bounded::new(8);
        whole.push(b"1234\n");
        assert!(!whole.into_output(0).truncated);
    }

    #[test]
    fn merging_keeps_the_newest_lines_oldest_first() {
        let line = |at, source: &str| LogLine {
            at,
            source: source.to_owned(),
            text: String::new(),
        };
        let all = vec![
            line(datetime!(2024-05-01 10:00:03 UTC), "web.1"),
            line(datetime!(2024-05-01 10:00:01 UTC), "web.1"),
            line(datetime!(2024-05-01 10:00:02 UTC), "worker.1"),
        ];
        let kept = newest(all, 2);
        let sources: Vec<_> = kept
            .iter()
            .map(|l| (l.at.second(), l.source.as_str()))
            .collect();
        assert_eq!(sources, [(2, "worker.1"), (3, "web.1")]);
    }
}
