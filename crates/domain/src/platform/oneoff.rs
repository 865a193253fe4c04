//! One-off commands and the app log.

use super::*;

impl Platform {
    /// Runs a one-off command in a container of the current release.
    pub async fn run(&self, user: &User, id: &str, body: &JsonMap) -> Result<RunOutput, Error> {
        let app = self.visible_app(user, id).await?;
        let command = match body.get("command") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(Error::field("command", REQUIRED));
            }
            Some(_) => return Err(Error::field("command", "Not a valid string.")),
        };
        let (record, spec) = {
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
            (record, spec)
        };
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
        let mut lines: Vec<(time::OffsetDateTime, String)> = self
            .store
            .events(&app.id, limit)
            .await?
            .into_iter()
            .map(|e| {
                (
                    e.at,
                    format!("{} deis[api]: {}", timefmt::deis(e.at), e.message),
                )
            })
            .collect();
        match self
            .scheduler
            .logs(&app.id, usize::try_from(limit).unwrap_or(usize::MAX))
            .await
        {
            Ok(out) => lines.extend(out.into_iter().map(|l| {
                (
                    l.at,
                    format!(
                        "{} {}[{}]: {}",
                        timefmt::deis(l.at),
                        app.id,
                        l.source,
                        l.text
                    ),
                )
            })),
            Err(e) => tracing::debug!(app = %app.id, error = %e, "container logs unavailable"),
        }
        lines.sort_by_key(|(at, _)| *at);
        let skip = lines
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
        if lines.len() == skip {
            return Ok(None);
        }
        let mut text = String::new();
        for (_, line) in &lines[skip..] {
            text.push_str(line);
            text.push('\n');
        }
        Ok(Some(text))
    }
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
