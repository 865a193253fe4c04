//! One-off commands and the app log.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::*;
use crate::scheduler::{LogLine, RunEvent, RunInputs, TtySize};

impl Platform {
    /// Runs a one-off command in a container of the current release.
    pub async fn run(&self, user: &User, id: &str, body: &JsonMap) -> Result<RunOutput, Error> {
        let (record, spec) = self.prepare_run(user, id, body).await?;
        let result = self.scheduler.run(&spec).await;
        let state = if result.is_ok() {
            ContainerState::Destroyed
        } else {
            ContainerState::Error
        };
        self.store.set_states(&[(record.uuid, state)]).await?;
        let mut out = result.map_err(|e| unavailable("could not run the command", &e))?;
        if out.truncated {
            if !out.output.ends_with('\n') {
                out.output.push('\n');
            }
            out.output.push_str(&format!(
                "[deis: output cut after {} bytes (run_output_limit)]\n",
                spec.output_limit
            ));
        }
        Ok(out)
    }

    /// Runs a one-off command attached (authorized, limited and recorded exactly as
    /// [`Platform::run`]): `input` feeds its standard input and terminal size, the answer
    /// streams its output and ends with its exit code. Dropping the answer kills the command
    /// and removes its container.
    pub async fn run_attached(
        &self,
        user: &User,
        id: &str,
        body: &JsonMap,
        tty: Option<TtySize>,
        input: RunInputs,
    ) -> Result<BoxStream<'static, Result<RunEvent, Error>>, Error> {
        let (record, spec) = self.prepare_run(user, id, body).await?;
        let events = match self.scheduler.run_attached(&spec, tty, input).await {
            Ok(events) => events,
            Err(e) => {
                self.store
                    .set_states(&[(record.uuid, ContainerState::Error)])
                    .await?;
                return Err(unavailable("could not run the command", &e));
            }
        };
        let store = self.store.clone();
        Ok(events
            .then(move |event| {
                let store = store.clone();
                async move {
                    let (state, event) = match event {
                        Ok(RunEvent::Exit(code)) => {
                            (ContainerState::Destroyed, Ok(RunEvent::Exit(code)))
                        }
                        Ok(printed) => return Ok(printed),
                        Err(e) => (
                            ContainerState::Error,
                            Err(unavailable("the command failed", &e)),
                        ),
                    };
                    if let Err(e) = store.set_states(&[(record.uuid, state)]).await {
                        tracing::warn!(error = %e, "could not record the end of a run");
                    }
                    event
                }
            })
            .boxed())
    }

    /// Checks and records a one-off run (visibility, a command, a build to run, the app's
    /// concurrent runs and the platform's room) and says what to start.
    async fn prepare_run(
        &self,
        user: &User,
        id: &str,
        body: &JsonMap,
    ) -> Result<(Container, RunSpec), Error> {
        let app = self.visible_app(user, id).await?;
        let command = match body.get("command") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(Error::field("command", REQUIRED));
            }
            Some(_) => return Err(Error::field("command", "Not a valid string.")),
        };
        let _lock = self.store.lock_app(&app.id).await?;
        let app = self.store.app(&app.id).await?;
        let latest = self.store.latest_release(&app.id).await?;
        let Some(build_id) = latest.build else {
            return Err(Error::Rejected(
                "No build associated with this release to run this command".into(),
            ));
        };
        let build = self.store.build(&app.id, build_id).await?;
        let config = self.store.config(latest.config).await?;
        let containers = self.store.containers(&app.id).await?;
        self.check_run(&app.id, &containers).await?;
        let num = containers
            .iter()
            .filter(|c| c.proc_type == "run")
            .map(|c| c.num)
            .max()
            .unwrap_or(0)
            + 1;
        let now = timefmt::now();
        let record = Container {
            uuid: Uuid::new_v4(),
            app: app.id.clone(),
            owner: app.owner.clone(),
            release: latest.version,
            proc_type: "run".into(),
            num,
            state: ContainerState::Up,
            created: now,
            updated: now,
        };
        let base = self.spec(&record, &build, &config);
        let (memory, cpu_shares) = run_limits(&config);
        let event = format!("{}: {} runs '{command}'", app.id, user.username);
        self.store
            .commit_scale(
                &app.id,
                &app.structure,
                std::slice::from_ref(&record),
                &[],
                Some(event),
            )
            .await?;
        let spec = RunSpec {
            name: container_name(&app.id, latest.version, "run", num),
            app: app.id.clone(),
            version: latest.version,
            num,
            image: base.image,
            command,
            env: base.env,
            memory,
            cpu_shares,
            timeout: self.settings.run_timeout,
            output_limit: self.settings.run_output_limit,
        };
        Ok((record, spec))
    }

    /// The app's log: platform events merged with container output, oldest first; the last
    /// `lines` lines, or the configured number.
    pub async fn logs(
        &self,
        user: &User,
        id: &str,
        lines: Option<u64>,
    ) -> Result<Option<String>, Error> {
        let app = self.visible_app(user, id).await?;
        let limit = lines.unwrap_or(self.settings.log_lines);
        let recent = self
            .recent_log(&app.id, limit, &LogFilter::default())
            .await?;
        if recent.is_empty() {
            return Ok(None);
        }
        let mut text = String::new();
        for entry in &recent {
            text.push_str(&entry.line);
            text.push('\n');
        }
        Ok(Some(text))
    }

    /// The app's log as it happens: the last `lines` lines (or the configured number), then
    /// every new event line and container line as it is committed or printed, until the
    /// stream is dropped. Containers started later join; removed ones leave. With a
    /// `filter`, only the matching processes' lines (and no event lines).
    pub async fn follow_logs(
        &self,
        user: &User,
        id: &str,
        lines: Option<u64>,
        filter: LogFilter,
    ) -> Result<BoxStream<'static, String>, Error> {
        let app = self.visible_app(user, id).await?;
        let limit = lines.unwrap_or(self.settings.log_lines);
        // Subscribe first, read the recent lines second: what happens in between is in both,
        // and the cut-offs below drop the second copy.
        let events = self.store.event_feed();
        let printed = self
            .scheduler
            .follow_logs(&app.id)
            .await
            .map_err(|e| unavailable("could not follow the logs", &e))?;
        let recent = self.recent_log(&app.id, limit, &filter).await?;
        let mut seen: HashMap<Option<String>, time::OffsetDateTime> = HashMap::new();
        for entry in &recent {
            seen.insert(entry.source.clone(), entry.at);
        }
        let events_seen = seen.get(&None).copied();
        let with_events = filter_is_empty(&filter);
        let id = app.id.clone();
        let events = events
            .filter(move |e| {
                let new = e.app == id && events_seen.is_none_or(|cut| e.at > cut);
                futures_util::future::ready(new && with_events)
            })
            .map(|e| event_line(e.at, &e.message));
        let id = app.id.clone();
        let printed = printed
            .filter(move |l| {
                let cut = seen.get(&Some(l.source.clone()));
                let new = cut.is_none_or(|cut| l.at > *cut);
                futures_util::future::ready(new && filter.matches(&l.source))
            })
            .map(move |l| printed_line(&id, &l));
        let recent = futures_util::stream::iter(recent.into_iter().map(|entry| entry.line));
        Ok(recent
            .chain(futures_util::stream::select(events, printed))
            .boxed())
    }

    /// The last `limit` lines of the app's log that pass `filter`, oldest first.
    async fn recent_log(
        &self,
        app: &str,
        limit: u64,
        filter: &LogFilter,
    ) -> Result<Vec<LogEntry>, Error> {
        let mut entries: Vec<LogEntry> = if filter_is_empty(filter) {
            self.store
                .events(app, limit)
                .await?
                .into_iter()
                .map(|e| LogEntry {
                    at: e.at,
                    source: None,
                    line: event_line(e.at, &e.message),
                })
                .collect()
        } else {
            Vec::new()
        };
        match self
            .scheduler
            .logs(app, usize::try_from(limit).unwrap_or(usize::MAX))
            .await
        {
            Ok(out) => entries.extend(out.into_iter().filter(|l| filter.matches(&l.source)).map(
                |l| LogEntry {
                    at: l.at,
                    line: printed_line(app, &l),
                    source: Some(l.source),
                },
            )),
            Err(e) => tracing::debug!(app, error = %e, "container logs unavailable"),
        }
        entries.sort_by_key(|entry| entry.at);
        let skip = entries
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(entries.split_off(skip))
    }
}

/// Which processes' lines a log request wants: a process type, and a number within it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this process type (`web`, `worker`, ...).
    pub proc_type: Option<String>,
    /// Only this number within the type (or within every type).
    pub num: Option<i64>,
}

impl LogFilter {
    /// Whether a container line of `source` (`{type}.{num}`) passes.
    fn matches(&self, source: &str) -> bool {
        let (proc_type, num) = source.rsplit_once('.').unwrap_or((source, ""));
        self.proc_type.as_deref().is_none_or(|t| t == proc_type)
            && self.num.is_none_or(|n| num == n.to_string())
    }
}

fn filter_is_empty(filter: &LogFilter) -> bool {
    *filter == LogFilter::default()
}

/// One line of the app's log, with where it came from (`None`: the controller).
struct LogEntry {
    at: time::OffsetDateTime,
    source: Option<String>,
    line: String,
}

/// A controller event as a log line.
fn event_line(at: time::OffsetDateTime, message: &str) -> String {
    format!("{} deis[api]: {message}", timefmt::deis(at))
}

/// A container's line as a log line.
fn printed_line(app: &str, line: &LogLine) -> String {
    format!(
        "{} {app}[{}]: {}",
        timefmt::deis(line.at),
        line.source,
        line.text
    )
}

/// The limits of a one-off run: those the config sets for the type `run`, else the largest of
/// the app's process types (a run usually runs the app's own code), so that an app with limits
/// never gets an unbounded run.
fn run_limits(config: &Config) -> (Option<String>, Option<i64>) {
    let memory = match config.memory.get("run") {
        Some(limit) => Some(release::env_text(limit)),
        None => config
            .memory
            .values()
            .map(release::env_text)
            .filter_map(|text| release::memory_bytes(&text).map(|bytes| (bytes, text)))
            .max_by_key(|(bytes, _)| *bytes)
            .map(|(_, text)| text),
    };
    let shares = |v: &Value| release::env_text(v).parse::<i64>().ok();
    let cpu_shares = match config.cpu.get("run") {
        Some(v) => shares(v),
        None => config.cpu.values().filter_map(shares).max(),
    };
    (memory, cpu_shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(memory: Value, cpu: Value) -> Config {
        let now = timefmt::now();
        let map = |v: Value| v.as_object().cloned().unwrap_or_default();
        Config {
            uuid: Uuid::new_v4(),
            app: "demo".into(),
            owner: "owner".into(),
            values: JsonMap::new(),
            memory: map(memory),
            cpu: map(cpu),
            tags: JsonMap::new(),
            created: now,
            updated: now,
        }
    }

    #[test]
    fn a_log_filter_picks_type_and_number() {
        let web = LogFilter {
            proc_type: Some("web".into()),
            num: None,
        };
        assert!(web.matches("web.1") && web.matches("web.12"));
        assert!(!web.matches("worker.1") && !web.matches("webby.1"));
        let second = LogFilter {
            proc_type: None,
            num: Some(2),
        };
        assert!(second.matches("web.2") && second.matches("worker.2"));
        assert!(!second.matches("web.12"));
        assert!(LogFilter::default().matches("anything.7"));
    }

    #[test]
    fn a_run_gets_its_own_limits_or_the_largest_of_the_app() {
        use serde_json::json;
        let limited = config(
            json!({"web": "512M", "worker": "1G"}),
            json!({"web": "256", "worker": 100}),
        );
        assert_eq!(run_limits(&limited), (Some("1G".into()), Some(256)));
        let own = config(
            json!({"web": "512M", "run": "64M"}),
            json!({"web": 256, "run": "50"}),
        );
        assert_eq!(run_limits(&own), (Some("64M".into()), Some(50)));
        assert_eq!(run_limits(&config(json!({}), json!({}))), (None, None));
    }
}
