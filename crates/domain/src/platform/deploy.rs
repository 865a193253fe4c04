//! Releases: config changes, builds and rollbacks recorded as release vN+1 and deployed; builds and releases read back.

use super::*;

/// What a new release points at, and which of those records it creates.
struct Target<'a> {
    /// The release's config.
    config: &'a Config,
    /// The release's build, none before the first build.
    build: Option<&'a Build>,
    /// `config`, when this release creates it.
    new_config: Option<Config>,
    /// `build`, when this release creates it.
    new_build: Option<Build>,
}

/// A deploy step recorded in the store, with what the scheduler must do for it.
struct Deploy {
    step: NewRelease,
    specs: Vec<ContainerSpec>,
}

/// What a build request carries.
#[derive(Debug, Clone, Default)]
pub struct BuildInput {
    /// Image reference.
    pub image: String,
    /// Git sha, may be empty.
    pub sha: String,
    /// Process type -> command.
    pub procfile: JsonMap,
    /// Dockerfile marker.
    pub dockerfile: String,
}

impl BuildInput {
    /// Validates a build request body (`image`, `sha`, `procfile`, `dockerfile`).
    pub fn parse(body: &JsonMap) -> Result<Self, Error> {
        let mut errors = Collector::default();
        let text = |field: &str, max: usize, required: bool| -> Result<String, String> {
            match body.get(field) {
                None | Some(Value::Null) if required => Err(REQUIRED.into()),
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) if required && s.is_empty() => Err(REQUIRED.into()),
                Some(Value::String(s)) => validate::max_len(s, max).map(|()| s.clone()),
                Some(_) => Err("Not a valid string.".into()),
            }
        };
        let image = errors.check(
            "image",
            text("image", 256, true).and_then(|i| images::image_reference(&i).map(|_| i)),
        );
        let sha = errors.check("sha", text("sha", 40, false));
        let procfile = match body.get("procfile") {
            None | Some(Value::Null) => Some(JsonMap::new()),
            Some(Value::String(s)) if s.is_empty() => Some(JsonMap::new()),
            Some(v) => match validate::json_object("procfile", v) {
                Ok(map) => errors.check("procfile", procfile_entries(map)),
                Err(Error::Fields(f)) => {
                    for (k, msgs) in f {
                        for m in msgs {
                            errors.check::<()>(&k, Err(m));
                        }
                    }
                    None
                }
                Err(_) => None,
            },
        };
        let dockerfile = match body.get("dockerfile") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(true)) => "True".into(),
            Some(Value::Bool(false)) => "False".into(),
            Some(other) => other.to_string(),
        };
        errors.finish()?;
        match (image, sha, procfile) {
            (Some(image), Some(sha), Some(procfile)) => Ok(Self {
                image,
                sha,
                procfile,
                dockerfile,
            }),
            _ => Err(Error::field("image", REQUIRED)),
        }
    }
}

/// Procfile entries must be named like process types and hold command strings.
pub(super) fn procfile_entries(map: JsonMap) -> Result<JsonMap, String> {
    for (k, v) in &map {
        let named = !k.is_empty()
            && k.len() <= 63
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && k.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !named || k == "run" {
            return Err(format!(
                "Invalid process type {k:?}: use letters, digits, '-' and '_'"
            ));
        }
        if !v.is_string() {
            return Err(format!("The command of process type {k} must be a string"));
        }
    }
    Ok(map)
}

impl Platform {
    /// The config of the app's current release.
    pub async fn config(&self, user: &User, id: &str) -> Result<Config, Error> {
        let app = self.visible_app(user, id).await?;
        let latest = self.store.latest_release(&app.id).await?;
        Ok(self.store.config(latest.config).await?)
    }

    /// Merges a config change into the current release's config and deploys it as a new release.
    pub async fn set_config(
        &self,
        user: &User,
        id: &str,
        body: &JsonMap,
    ) -> Result<(Config, Release), Error> {
        let app = self.visible_app(user, id).await?;
        let mut submitted = BTreeMap::new();
        for field in ["values", "memory", "cpu", "tags"] {
            match body.get(field) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    let map = validate::json_object(field, v)?;
                    if field == "values" {
                        validate::config_values(&map)?;
                    } else {
                        validate::limits(field, &map)?;
                    }
                    submitted.insert(field, map);
                }
            }
        }
        let _lock = self.store.lock_app(&app.id).await?;
        let app = self.store.app(&app.id).await?;
        let latest = self.store.latest_release(&app.id).await?;
        let base = self.store.config(latest.config).await?;
        let now = timefmt::now();
        let config = Config {
            uuid: Uuid::new_v4(),
            app: app.id.clone(),
            owner: base.owner.clone(),
            values: release::merge(&base.values, submitted.get("values")),
            memory: release::merge(&base.memory, submitted.get("memory")),
            cpu: release::merge(&base.cpu, submitted.get("cpu")),
            tags: release::merge(&base.tags, submitted.get("tags")),
            created: now,
            updated: now,
        };
        let build = match latest.build {
            Some(b) => Some(self.store.build(&app.id, b).await?),
            None => None,
        };
        let build = match build {
            Some(b) => Some(self.reuse_build(user, &app.id, latest.version, b).await?),
            None => None,
        };
        let summary = release::summary(&SummaryInput {
            version: latest.version + 1,
            user: &user.username,
            new_build: None,
            config_change: Some((&config, &base)),
        });
        let event = format!(
            "{}: config {}-{} updated",
            app.id,
            app.id,
            short(config.uuid)
        );
        let target = Target {
            config: &config,
            build: build.as_ref(),
            new_config: Some(config.clone()),
            new_build: None,
        };
        let (release, _) = self
            .record_and_deploy(&app, &latest, user, summary, vec![event], target)
            .await?;
        Ok((config, release))
    }

    /// Stores a build and deploys it as a new release; a first build scales to the default structure.
    pub async fn create_build(
        &self,
        user: &User,
        id: &str,
        input: BuildInput,
    ) -> Result<(Build, Release), Error> {
        let app = self.visible_app(user, id).await?;
        self.check_image(user, &input.image).await?;
        self.deploy_build(user, &app.id, input).await
    }

    /// Stores a build whose image may be used and deploys it (see [`Platform::create_build`]).
    pub(super) async fn deploy_build(
        &self,
        user: &User,
        id: &str,
        input: BuildInput,
    ) -> Result<(Build, Release), Error> {
        let _lock = self.store.lock_app(id).await?;
        let app = self.store.app(id).await?;
        self.check_first_deploy(user, &app, &input.procfile).await?;
        let latest = self.store.latest_release(&app.id).await?;
        let config = self.store.config(latest.config).await?;
        let now = timefmt::now();
        let build = Build {
            uuid: Uuid::new_v4(),
            app: app.id.clone(),
            owner: user.username.clone(),
            image: input.image,
            sha: input.sha,
            procfile: input.procfile,
            dockerfile: input.dockerfile,
            created: now,
            updated: now,
        };
        let summary = release::summary(&SummaryInput {
            version: latest.version + 1,
            user: &user.username,
            new_build: Some(&build),
            config_change: None,
        });
        let event = format!("{}: build {}-{} created", app.id, app.id, short(build.uuid));
        let target = Target {
            config: &config,
            build: Some(&build),
            new_config: None,
            new_build: Some(build.clone()),
        };
        let (release, step) = self
            .record_and_deploy(&app, &latest, user, summary, vec![event], target)
            .await?;
        if app.structure.is_empty() {
            let initial = release::default_structure(&build);
            if let Err(e) = self
                .scale_locked(user, &app, &release, &build, &config, &initial)
                .await
            {
                self.withdraw(step).await;
                return Err(e);
            }
        }
        Ok((build, release))
    }

    /// Deploys the build and config of an earlier release as a new release.
    pub async fn rollback(
        &self,
        user: &User,
        id: &str,
        version: Option<i64>,
    ) -> Result<Release, Error> {
        let app = self.visible_app(user, id).await?;
        let _lock = self.store.lock_app(&app.id).await?;
        let latest = self.store.latest_release(&app.id).await?;
        let target = version.unwrap_or(latest.version - 1);
        if target < 1 {
            return Err(Error::Rejected("version cannot be below 0".into()));
        }
        let prev = self.store.release(&app.id, target).await?;
        let config = self.store.config(prev.config).await?;
        let build = match prev.build {
            Some(b) => Some(self.store.build(&app.id, b).await?),
            None => None,
        };
        let build = match build {
            Some(b) => Some(self.reuse_build(user, &app.id, target, b).await?),
            None => None,
        };
        let summary = format!("{} rolled back to v{target}", user.username);
        let target = Target {
            config: &config,
            build: build.as_ref(),
            new_config: None,
            new_build: None,
        };
        let (release, _) = self
            .record_and_deploy(&app, &latest, user, summary, Vec::new(), target)
            .await?;
        Ok(release)
    }

    /// Records release vN+1 pointing at `target` (inserting the records it creates) and moves
    /// the app's processes onto it. Returns the release and the recorded step, which the caller
    /// may still withdraw.
    async fn record_and_deploy(
        &self,
        app: &App,
        latest: &Release,
        user: &User,
        summary: String,
        mut events: Vec<String>,
        target: Target<'_>,
    ) -> Result<(Release, NewRelease), Error> {
        let now = timefmt::now();
        let version = latest.version + 1;
        events.push(format!("{}: release {}-v{version} created", app.id, app.id));
        events.push(summary.clone());
        let release = Release {
            uuid: Uuid::new_v4(),
            app: app.id.clone(),
            owner: user.username.clone(),
            version,
            summary,
            config: target.config.uuid,
            build: target.build.map(|b| b.uuid),
            created: now,
            updated: now,
        };
        let build = target.build;
        let config = target.config;
        let deploy = self.plan_deploy(app, release, target, events).await?;
        let old_config = if deploy.step.retire.is_empty() || latest.config == config.uuid {
            None
        } else {
            Some(self.store.config(latest.config).await?)
        };
        let step = deploy.step.clone();
        let release = self
            .carry_out(app, deploy, build, config, old_config.as_ref())
            .await?;
        self.prune_images(&app.id, release.version).await;
        Ok((release, step))
    }

    /// Plans moving every running process of the app to `release`.
    async fn plan_deploy(
        &self,
        app: &App,
        release: Release,
        target: Target<'_>,
        events: Vec<String>,
    ) -> Result<Deploy, Error> {
        let Target {
            config,
            build,
            new_config,
            new_build,
        } = target;
        let existing: Vec<Container> = self.processes(&app.id).await?;
        let now = timefmt::now();
        let mut containers = Vec::new();
        let mut specs = Vec::new();
        if let Some(build) = build {
            let wanted: Vec<(String, i64)> = if existing.is_empty() {
                app.structure
                    .iter()
                    .filter(|(t, _)| valid_type(build, t))
                    .flat_map(|(t, n)| (1..=*n).map(move |i| (t.clone(), i)))
                    .collect()
            } else {
                existing
                    .iter()
                    .map(|c| (c.proc_type.clone(), c.num))
                    .collect()
            };
            for (proc_type, num) in wanted {
                let c = Container {
                    uuid: Uuid::new_v4(),
                    app: app.id.clone(),
                    owner: app.owner.clone(),
                    release: release.version,
                    proc_type,
                    num,
                    state: ContainerState::Initialized,
                    created: now,
                    updated: now,
                };
                specs.push(self.spec(&c, build, config));
                containers.push(c);
            }
        }
        let step = NewRelease {
            release,
            config: new_config,
            build: new_build,
            retire: existing,
            containers,
            events,
        };
        Ok(Deploy { step, specs })
    }

    /// Records the deploy, publishes the image, starts the new containers, waits until they
    /// answer, switches traffic to them, drains and retires the old ones.
    async fn carry_out(
        &self,
        app: &App,
        deploy: Deploy,
        build: Option<&Build>,
        config: &Config,
        old_config: Option<&Config>,
    ) -> Result<Release, Error> {
        let Deploy { step, specs } = deploy;
        match self.store.commit_release(step.clone()).await {
            Err(StoreError::Conflict(_)) => {
                return Err(Error::Unavailable(
                    "another change of this app is in progress; try again".into(),
                ));
            }
            other => other?,
        }
        let version = step.release.version;
        if let Some(build) = build {
            let target = self.scheduler.release_image(&app.id, version);
            if let Err(e) = self.scheduler.publish(&build.image, &app.id, version).await {
                self.withdraw(step).await;
                return Err(unavailable(&format!("could not publish {target}"), &e));
            }
        }
        if !specs.is_empty()
            && let Err(e) = self.scheduler.start(&specs).await
        {
            self.event(
                &app.id,
                format!("{}: aborting, failed to create some containers", app.id),
            )
            .await;
            // `start` removes what it created; should the engine have failed that too, take it
            // back here (what an engine that does not answer holds, reconciliation removes).
            if matches!(e, SchedulerError::Failed(_)) {
                self.abandon(&step.containers).await;
            }
            self.withdraw(step).await;
            return Err(unavailable(
                "aborting, failed to create some containers",
                &e,
            ));
        }
        let switch = match self
            .plan_switch(&app.id, &step.containers, config, &step.retire, old_config)
            .await
        {
            Ok(switch) => switch,
            Err(e) => {
                self.abandon(&step.containers).await;
                self.withdraw(step).await;
                return Err(e);
            }
        };
        if let Some(switch) = &switch
            && let Err(e) = self.health_gate(&app.id, switch).await
        {
            self.abandon(&step.containers).await;
            self.withdraw(step).await;
            return Err(e);
        }
        let up: Vec<(Uuid, ContainerState)> = step
            .containers
            .iter()
            .map(|c| (c.uuid, ContainerState::Up))
            .collect();
        self.store.set_states(&up).await?;
        let retired = switch.map(|s| s.old).unwrap_or_default();
        self.switch_traffic(&app.id, &retired).await;
        let old: Vec<String> = step.retire.iter().map(Container::name).collect();
        if !old.is_empty()
            && let Err(e) = self.scheduler.remove(&old).await
        {
            tracing::warn!(app = %app.id, error = %e, "old containers left for reconciliation");
        }
        Ok(step.release)
    }

    /// Removes containers a refused step started; what fails is reconciliation's to remove.
    pub(super) async fn abandon(&self, started: &[Container]) {
        let names: Vec<String> = started.iter().map(Container::name).collect();
        if !names.is_empty()
            && let Err(e) = self.scheduler.remove(&names).await
        {
            tracing::warn!(error = %e, "containers of a refused step left for reconciliation");
        }
    }

    pub(super) async fn withdraw(&self, step: NewRelease) {
        let version = step.release.version;
        let app = step.release.app.clone();
        if let Err(e) = self.store.withdraw_release(step).await {
            tracing::error!(app = %app, version, error = %e, "could not withdraw a failed release");
        }
    }

    /// The container spec of a process at a release.
    pub(super) fn spec(&self, c: &Container, build: &Build, config: &Config) -> ContainerSpec {
        let mut env: BTreeMap<String, String> = config
            .values
            .iter()
            .map(|(k, v)| (k.clone(), release::env_text(v)))
            .collect();
        env.insert("DEIS_APP".into(), c.app.clone());
        env.insert("DEIS_RELEASE".into(), format!("v{}", c.release));
        env.entry("PORT".into())
            .or_insert_with(|| self.settings.default_port.to_string());
        let pick = |m: &JsonMap| m.get(&c.proc_type).map(release::env_text);
        ContainerSpec {
            name: c.name(),
            app: c.app.clone(),
            version: c.release,
            proc_type: c.proc_type.clone(),
            num: c.num,
            image: self.scheduler.release_image(&c.app, c.release),
            command: release::command_for(build, &c.proc_type),
            env,
            memory: pick(&config.memory),
            cpu_shares: pick(&config.cpu).and_then(|s| s.parse().ok()),
            tags: config
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), release::env_text(v)))
                .collect(),
        }
    }

    /// Builds of the app, newest first.
    pub async fn list_builds(
        &self,
        user: &User,
        id: &str,
        page: PageSel,
    ) -> Result<Page<Build>, Error> {
        let app = self.visible_app(user, id).await?;
        Ok(self.store.list_builds(&app.id, page).await?)
    }

    /// One build of the app.
    pub async fn build(&self, user: &User, id: &str, uuid: &str) -> Result<Build, Error> {
        let app = self.visible_app(user, id).await?;
        let uuid = Uuid::parse_str(uuid).map_err(|_| Error::NotFound)?;
        Ok(self.store.build(&app.id, uuid).await?)
    }

    /// Releases of the app, newest first.
    pub async fn list_releases(
        &self,
        user: &User,
        id: &str,
        page: PageSel,
    ) -> Result<Page<Release>, Error> {
        let app = self.visible_app(user, id).await?;
        Ok(self.store.list_releases(&app.id, page).await?)
    }

    /// One release of the app.
    pub async fn release(&self, user: &User, id: &str, version: i64) -> Result<Release, Error> {
        let app = self.visible_app(user, id).await?;
        Ok(self.store.release(&app.id, version).await?)
    }
}
