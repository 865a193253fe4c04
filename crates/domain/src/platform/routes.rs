//! Traffic: which containers of an app the router sends requests to, the health gate new
//! containers pass before they get any, and the switch that drains old ones.
//!
//! The routable process type is `web`, or `cmd` for an app without `web` processes. A new
//! routable container must answer HTTP (any status below 500) on `$PORT` at the app's
//! `HEALTHCHECK_URL` (default `/`) before it joins the route table. The gate is strict — the
//! step is refused when the new containers never answer — for `web` processes, for apps that
//! set `HEALTHCHECK_URL`, and whenever the app answers now (a release must never take an app
//! that serves to one that does not). A `cmd` process that serves nothing yet (a worker, or a
//! first deploy) is waited for briefly and routed whenever it starts answering: nothing that
//! worked is lost, and worker-only apps deploy without a health check they cannot pass.

use super::*;

/// How long a deploy waits for containers whose health gate is not strict.
const LENIENT_WAIT: Duration = Duration::from_secs(5);
/// How long the probe that tells whether the app answers now may take.
const SERVING_PROBE: Duration = Duration::from_secs(1);
/// Output lines quoted from a container that failed its health check.
const QUOTED_LINES: usize = 10;

/// The containers a step moves traffic between, with what the gate needs to know.
pub(super) struct Switch {
    /// Routable containers the step starts.
    pub(super) new: Vec<Endpoint>,
    /// Routable containers the step retires.
    pub(super) old: Vec<Endpoint>,
    /// The routable process type.
    pub(super) proc_type: String,
    /// The port the new containers listen on (`$PORT`; the router may reach them on another
    /// one a backend publishes it on).
    pub(super) port: u16,
    /// Health-check path of the new containers' config.
    pub(super) health_path: String,
    /// Whether the new config names a health-check path itself.
    pub(super) explicit_path: bool,
}

/// The process type that receives traffic among `types`: `web`, else `cmd`.
fn routable_type<'a>(types: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut cmd = None;
    for t in types {
        match t {
            "web" => return Some("web"),
            "cmd" => cmd = Some("cmd"),
            _ => {}
        }
    }
    cmd
}

/// The port a config's containers listen on.
pub(super) fn port_of(config: &Config, default: u16) -> u16 {
    config
        .values
        .get("PORT")
        .map(release::env_text)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(default)
}

/// The health-check path a config asks for, if it names one.
fn explicit_health_path(config: &Config) -> Option<String> {
    config
        .values
        .get("HEALTHCHECK_URL")
        .map(release::env_text)
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.starts_with('/') {
                p
            } else {
                format!("/{p}")
            }
        })
}

impl Platform {
    /// The endpoints of `containers` of the routable type that the engine reports with an
    /// address, listening on `port` (or on the port the engine publishes it on).
    fn endpoints_of(
        containers: &[Container],
        proc_type: &str,
        observed: &[Observed],
        port: u16,
    ) -> Vec<Endpoint> {
        let by_name: HashMap<&str, &Observed> =
            observed.iter().map(|o| (o.name.as_str(), o)).collect();
        let mut endpoints: Vec<Endpoint> = containers
            .iter()
            .filter(|c| c.proc_type == proc_type)
            .filter_map(|c| {
                let name = c.name();
                let seen = by_name.get(name.as_str())?;
                Some(Endpoint {
                    container: name,
                    addr: std::net::SocketAddr::new(seen.address?, seen.port.unwrap_or(port)),
                })
            })
            .collect();
        endpoints.sort();
        endpoints
    }

    /// Plans the traffic part of a step that starts `new` (with `config`) and retires `old`
    /// (with `old_config`); `None` when the step touches no routable container.
    pub(super) async fn plan_switch(
        &self,
        app: &str,
        new: &[Container],
        config: &Config,
        old: &[Container],
        old_config: Option<&Config>,
    ) -> Result<Option<Switch>, Error> {
        let all = self.processes(app).await?;
        let types = all
            .iter()
            .chain(new)
            .chain(old)
            .map(|c| c.proc_type.as_str());
        let Some(proc_type) = routable_type(types) else {
            return Ok(None);
        };
        let touches = |cs: &[Container]| cs.iter().any(|c| c.proc_type == proc_type);
        if !touches(new) && !touches(old) {
            return Ok(None);
        }
        let observed = self
            .scheduler
            .list(Some(app))
            .await
            .map_err(|e| unavailable("could not list the app's containers", &e))?;
        let default_port = self.settings.default_port;
        let old_port = port_of(old_config.unwrap_or(config), default_port);
        let port = port_of(config, default_port);
        let explicit = explicit_health_path(config);
        Ok(Some(Switch {
            new: Self::endpoints_of(new, proc_type, &observed, port),
            port,
            old: Self::endpoints_of(old, proc_type, &observed, old_port),
            proc_type: proc_type.to_owned(),
            explicit_path: explicit.is_some(),
            health_path: explicit.unwrap_or_else(|| "/".to_owned()),
        }))
    }

    /// Waits until the step's new routable containers answer. Refuses the step (the caller
    /// withdraws it) when they never do and the gate is strict; see the module's rules.
    pub(super) async fn health_gate(&self, app: &str, switch: &Switch) -> Result<(), Error> {
        if switch.new.is_empty() {
            return Ok(());
        }
        let strict = switch.proc_type == "web"
            || switch.explicit_path
            || (!switch.old.is_empty()
                && self
                    .routing
                    .await_healthy(&switch.old, &switch.health_path, SERVING_PROBE)
                    .await
                    .is_ok());
        let wait = if strict {
            self.settings.health_timeout
        } else {
            self.settings.health_timeout.min(LENIENT_WAIT)
        };
        match self
            .routing
            .await_healthy(&switch.new, &switch.health_path, wait)
            .await
        {
            Ok(()) => Ok(()),
            Err(failures) if strict => Err(self.unhealthy(app, switch, wait, failures).await),
            Err(_) => {
                self.event(
                    app,
                    format!(
                        "{app}: {} containers do not answer on {} yet; routed once they do",
                        switch.proc_type, switch.health_path
                    ),
                )
                .await;
                Ok(())
            }
        }
    }

    /// The refusal of a step whose containers never became healthy: which process, why,
    /// and the end of its output.
    async fn unhealthy(
        &self,
        app: &str,
        switch: &Switch,
        waited: Duration,
        failures: Vec<Unhealthy>,
    ) -> Error {
        let mut parts = Vec::new();
        for failure in failures.iter().take(3) {
            let name = &failure.endpoint.container;
            let process = name.split_once('.').map_or(name.as_str(), |(_, p)| p);
            let mut part = format!(
                "{process} did not answer HTTP on port {} at {} within {}s ({})",
                switch.port,
                switch.health_path,
                waited.as_secs(),
                failure.reason
            );
            let tail = self.scheduler.tail(name, QUOTED_LINES).await;
            let tail = tail.trim();
            if !tail.is_empty() {
                part.push_str(&format!("; last output:\n{tail}"));
            }
            parts.push(part);
        }
        if failures.len() > 3 {
            parts.push(format!("and {} more", failures.len() - 3));
        }
        self.event(
            app,
            format!("{app}: aborting, new containers never became healthy"),
        )
        .await;
        Error::Refused(format!(
            "aborting, the new release never became healthy: {}",
            parts.join("; ")
        ))
    }

    /// Moves traffic to the app's recorded containers, then lets the retired ones finish
    /// what they serve.
    pub(super) async fn switch_traffic(&self, app: &str, retired: &[Endpoint]) {
        self.sync_routes(app).await;
        if !retired.is_empty() {
            self.routing.drain(retired, self.settings.drain_grace).await;
        }
    }

    /// What the router needs for the app, from the database (hosts, the recorded routable
    /// containers, config) and the engine (their addresses).
    pub async fn routes_of(&self, app: &str) -> Result<AppRoutes, Error> {
        let mut hosts = vec![self.host(app)];
        let mut page = 1;
        loop {
            let domains = self.store.list_domains(app, PageSel::Number(page)).await?;
            hosts.extend(domains.items.iter().map(|d| d.domain.to_ascii_lowercase()));
            if !domains.has_next() {
                break;
            }
            page += 1;
        }
        let containers = self.processes(app).await?;
        let config = self
            .store
            .config(self.store.latest_release(app).await?.config)
            .await?;
        let types = containers.iter().map(|c| c.proc_type.as_str());
        let endpoints = match routable_type(types) {
            Some(proc_type) => {
                let observed = self
                    .scheduler
                    .list(Some(app))
                    .await
                    .map_err(|e| unavailable("could not list the app's containers", &e))?;
                let port = port_of(&config, self.settings.default_port);
                Self::endpoints_of(&containers, proc_type, &observed, port)
            }
            None => Vec::new(),
        };
        Ok(AppRoutes {
            app: app.to_owned(),
            hosts,
            endpoints,
            health_path: explicit_health_path(&config).unwrap_or_else(|| "/".to_owned()),
        })
    }

    /// Tells the router the app's current routes; an app that no longer exists is removed
    /// from it. Best effort: a failure is logged and the next reconcile repairs it.
    pub async fn sync_routes(&self, app: &str) {
        match self.routes_of(app).await {
            Ok(routes) => self.routing.set_routes(routes).await,
            Err(Error::NotFound) => self.routing.remove_app(app).await,
            Err(e) => tracing::warn!(app, error = %e, "could not update the app's routes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_wins_then_cmd_and_workers_are_never_routed() {
        assert_eq!(routable_type(["worker", "web", "cmd"]), Some("web"));
        assert_eq!(routable_type(["worker", "cmd"]), Some("cmd"));
        assert_eq!(routable_type(["worker", "clock"]), None);
        assert_eq!(routable_type([]), None);
    }

    fn config(values: serde_json::Value) -> Config {
        let now = timefmt::now();
        Config {
            uuid: Uuid::new_v4(),
            app: "a".into(),
            owner: "u".into(),
            values: values.as_object().cloned().unwrap_or_default(),
            memory: JsonMap::new(),
            cpu: JsonMap::new(),
            tags: JsonMap::new(),
            created: now,
            updated: now,
        }
    }

    #[test]
    fn port_and_health_path_come_from_the_config() {
        assert_eq!(port_of(&config(serde_json::json!({})), 5000), 5000);
        assert_eq!(
            port_of(&config(serde_json::json!({"PORT": "8080"})), 5000),
            8080
        );
        assert_eq!(
            port_of(&config(serde_json::json!({"PORT": 9000})), 5000),
            9000
        );
        assert_eq!(
            port_of(&config(serde_json::json!({"PORT": "x"})), 5000),
            5000
        );
        assert_eq!(explicit_health_path(&config(serde_json::json!({}))), None);
        assert_eq!(
            explicit_health_path(&config(serde_json::json!({"HEALTHCHECK_URL": "health"}))),
            Some("/health".to_owned())
        );
        assert_eq!(
            explicit_health_path(&config(serde_json::json!({"HEALTHCHECK_URL": "/up?x=1"}))),
            Some("/up?x=1".to_owned())
        );
    }
}
