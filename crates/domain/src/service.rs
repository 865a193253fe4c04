//! The use cases of the API, driving the [`Store`] and the [`Scheduler`].
//!
//! Every change of an app's releases or containers runs under that app's lock, records the
//! desired state first and then asks the scheduler to make it so; when the scheduler fails,
//! the recorded step is withdrawn, so the database never claims what the engine refused.
//! A controller killed between the two converges through [`Platform::reconcile`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, SchedulerError, StoreError};
use crate::model::{
    App, Build, Config, Container, ContainerState, Domain, JsonMap, Key, NewRelease, Push, Release,
    Structure, User, container_name,
};
use crate::page::{Page, PageSel};
use crate::release::{self, SummaryInput};
use crate::scheduler::{ContainerSpec, Observed, RunOutput, RunSpec, Scheduler};
use crate::store::{AppScope, Store};
use crate::timefmt;
use crate::validate::{self, Collector, REQUIRED};

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    /// Apps are reachable at `{app}.{domain}`.
    pub domain: String,
    /// How many lines `logs` answers.
    pub log_lines: u64,
    /// How long a one-off `run` may take before it is killed.
    pub run_timeout: Duration,
    /// `PORT` given to containers unless the config sets one.
    pub default_port: u16,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        Self {
            domain: "deisapp.local".into(),
            log_lines: 1000,
            run_timeout: Duration::from_secs(20 * 60),
            default_port: 5000,
        }
    }
}

/// The platform's use cases over a store and a scheduler.
#[derive(Clone)]
pub struct Platform {
    store: Arc<dyn Store>,
    scheduler: Arc<dyn Scheduler>,
    settings: PlatformSettings,
}

/// The process types an app's latest build can run.
fn valid_type(build: &Build, proc_type: &str) -> bool {
    proc_type == "cmd" || build.procfile.contains_key(proc_type)
}

fn unavailable(what: &str, e: &SchedulerError) -> Error {
    Error::Unavailable(format!("{what}: {e}"))
}

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
        let image = errors.check("image", text("image", 256, true));
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
fn procfile_entries(map: JsonMap) -> Result<JsonMap, String> {
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
    /// Wires the use cases to their ports.
    pub fn new(
        store: Arc<dyn Store>,
        scheduler: Arc<dyn Scheduler>,
        settings: PlatformSettings,
    ) -> Self {
        Self {
            store,
            scheduler,
            settings,
        }
    }

    /// The store behind the platform.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The settings of the platform.
    pub fn settings(&self) -> &PlatformSettings {
        &self.settings
    }

    /// The app's public hostname.
    pub fn url(&self, app: &str) -> String {
        format!("{app}.{}", self.settings.domain)
    }

    // ---- access -------------------------------------------------------------------------

    /// Whether the user may see the app: owner, collaborator or admin.
    async fn can_see(&self, user: &User, app: &App) -> Result<bool, Error> {
        Ok(user.is_superuser
            || app.owner == user.username
            || self.store.is_collaborator(&app.id, &user.username).await?)
    }

    /// The app's long-running containers: every recorded one except one-off `run`s.
    async fn processes(&self, app: &str) -> Result<Vec<Container>, Error> {
        let mut all = self.store.containers(app).await?;
        all.retain(|c| c.proc_type != "run");
        Ok(all)
    }

    /// The app if the user may see it, else `NotFound`.
    pub async fn visible_app(&self, user: &User, id: &str) -> Result<App, Error> {
        if !validate::is_app_id(id) {
            return Err(Error::NotFound);
        }
        let app = self.store.app(id).await?;
        if self.can_see(user, &app).await? {
            Ok(app)
        } else {
            Err(Error::NotFound)
        }
    }

    // ---- apps ---------------------------------------------------------------------------

    /// Creates an app with its initial config and release v1.
    pub async fn create_app(&self, user: &User, body: &JsonMap) -> Result<App, Error> {
        let structure = match body.get("structure") {
            None | Some(Value::Null) => Structure::new(),
            Some(v) => validate::structure(v)?,
        };
        match body.get("id") {
            Some(Value::Null) => Err(Error::field("id", REQUIRED)),
            None => {
                for _ in 0..8 {
                    match self
                        .insert_app(user, random_app_id(), structure.clone())
                        .await
                    {
                        Err(Error::Fields(f)) if f.contains_key("id") => continue,
                        other => return other,
                    }
                }
                Err(Error::Unavailable(
                    "could not find a free app name; name the app".into(),
                ))
            }
            Some(Value::String(id)) => {
                validate::app_id(id).map_err(|m| Error::field("id", m))?;
                self.insert_app(user, id.clone(), structure).await
            }
            Some(_) => Err(Error::field("id", "Not a valid string.")),
        }
    }

    async fn insert_app(
        &self,
        user: &User,
        id: String,
        structure: Structure,
    ) -> Result<App, Error> {
        let now = timefmt::now();
        let app = App {
            uuid: Uuid::new_v4(),
            id: id.clone(),
            owner: user.username.clone(),
            structure,
            created: now,
            updated: now,
        };
        let config = Config {
            uuid: Uuid::new_v4(),
            app: id.clone(),
            owner: user.username.clone(),
            values: JsonMap::new(),
            memory: JsonMap::new(),
            cpu: JsonMap::new(),
            tags: JsonMap::new(),
            created: now,
            updated: now,
        };
        let summary = format!("{} created initial release", user.username);
        let release = Release {
            uuid: Uuid::new_v4(),
            app: id.clone(),
            owner: user.username.clone(),
            version: 1,
            summary: summary.clone(),
            config: config.uuid,
            build: None,
            created: now,
            updated: now,
        };
        let events = vec![
            format!("{id}: config {id}-{} updated", short(config.uuid)),
            format!("{id}: release {id}-v1 created"),
            summary,
        ];
        match self
            .store
            .create_app(app.clone(), config, release, events)
            .await
        {
            Err(StoreError::Conflict(_)) => {
                Err(Error::field("id", "App with this Id already exists."))
            }
            other => other.map(|()| app).map_err(Error::from),
        }
    }

    /// Apps the user may see.
    pub async fn list_apps(&self, user: &User, page: PageSel) -> Result<Page<App>, Error> {
        let scope = if user.is_superuser {
            AppScope::All
        } else {
            AppScope::VisibleTo(user.username.clone())
        };
        Ok(self.store.list_apps(scope, page).await?)
    }

    /// Destroys an app, its records and its containers (owner or admin only).
    pub async fn destroy_app(&self, user: &User, id: &str) -> Result<(), Error> {
        let app = self.visible_app(user, id).await?;
        if !(user.is_superuser || app.owner == user.username) {
            return Err(Error::Forbidden);
        }
        let _lock = self.store.lock_app(id).await?;
        let names: Vec<String> = self
            .store
            .containers(id)
            .await?
            .iter()
            .map(Container::name)
            .collect();
        self.store.delete_app(id).await?;
        self.remove_everything_of(id, names).await;
        Ok(())
    }

    /// Best effort: removes the named containers and whatever else the engine holds for the app.
    /// What fails here is an orphan that reconciliation removes later.
    async fn remove_everything_of(&self, app: &str, mut names: Vec<String>) {
        match self.scheduler.list(Some(app)).await {
            Ok(observed) => names.extend(observed.into_iter().map(|o| o.name)),
            Err(e) => tracing::warn!(app, error = %e, "could not list containers of a deleted app"),
        }
        names.sort();
        names.dedup();
        if !names.is_empty()
            && let Err(e) = self.scheduler.remove(&names).await
        {
            tracing::warn!(app, error = %e, "containers of a deleted app left for reconciliation");
        }
    }

    /// Deletes the user's account with everything they own, containers included.
    pub async fn cancel_account(&self, user: &User) -> Result<(), Error> {
        let apps = self.store.delete_user(user.id).await?;
        for app in apps {
            self.remove_everything_of(&app, Vec::new()).await;
        }
        Ok(())
    }

    // ---- config, builds, releases ----------------------------------------------------------

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
                    if field != "values" {
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
        let _lock = self.store.lock_app(&app.id).await?;
        let app = self.store.app(&app.id).await?;
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
        let deploy = self.plan_deploy(app, release, target, events).await?;
        let step = deploy.step.clone();
        let release = self.carry_out(app, deploy, build).await?;
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

    /// Records the deploy, publishes the image, starts the new containers and retires the old.
    async fn carry_out(
        &self,
        app: &App,
        deploy: Deploy,
        build: Option<&Build>,
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
            let target = format!("{}:v{version}", app.id);
            if let Err(e) = self.scheduler.publish(&build.image, &target).await {
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
            self.withdraw(step).await;
            return Err(unavailable(
                "aborting, failed to create some containers",
                &e,
            ));
        }
        let up: Vec<(Uuid, ContainerState)> = step
            .containers
            .iter()
            .map(|c| (c.uuid, ContainerState::Up))
            .collect();
        self.store.set_states(&up).await?;
        let old: Vec<String> = step.retire.iter().map(Container::name).collect();
        if !old.is_empty()
            && let Err(e) = self.scheduler.remove(&old).await
        {
            tracing::warn!(app = %app.id, error = %e, "old containers left for reconciliation");
        }
        Ok(step.release)
    }

    async fn withdraw(&self, step: NewRelease) {
        let version = step.release.version;
        let app = step.release.app.clone();
        if let Err(e) = self.store.withdraw_release(step).await {
            tracing::error!(app = %app, version, error = %e, "could not withdraw a failed release");
        }
    }

    /// The container spec of a process at a release.
    fn spec(&self, c: &Container, build: &Build, config: &Config) -> ContainerSpec {
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
            image: format!("{}:v{}", c.app, c.release),
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

    // ---- containers ---------------------------------------------------------------------

    /// Containers of the app with their live states where the engine answers.
    pub async fn list_containers(
        &self,
        user: &User,
        id: &str,
        proc_type: Option<&str>,
        page: PageSel,
    ) -> Result<Page<Container>, Error> {
        let app = self.visible_app(user, id).await?;
        let page = self.store.list_containers(&app.id, proc_type, page).await?;
        Ok(self.refresh_states(&app.id, page).await)
    }

    /// One container by type and number.
    pub async fn container(
        &self,
        user: &User,
        id: &str,
        proc_type: &str,
        num: &str,
    ) -> Result<Container, Error> {
        let app = self.visible_app(user, id).await?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::NotFound);
        }
        let num: i64 = num.parse().map_err(|_| Error::NotFound)?;
        let mut found: Vec<Container> = self
            .store
            .containers(&app.id)
            .await?
            .into_iter()
            .filter(|c| c.proc_type == proc_type && c.num == num)
            .collect();
        let newest = found.pop().ok_or(Error::NotFound)?;
        let refreshed = self
            .refresh_states(
                &app.id,
                Page {
                    count: 1,
                    number: 1,
                    items: vec![newest],
                },
            )
            .await;
        refreshed.items.into_iter().next().ok_or(Error::NotFound)
    }

    /// Overlays the engine's view of states; keeps the stored ones when the engine does not answer.
    async fn refresh_states(&self, app: &str, mut page: Page<Container>) -> Page<Container> {
        let live = page
            .items
            .iter()
            .any(|c| c.proc_type != "run" || c.state == ContainerState::Up);
        if !live {
            return page;
        }
        let observed = match self.scheduler.list(Some(app)).await {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(app, error = %e, "engine states unavailable; answering stored states");
                return page;
            }
        };
        let by_name: HashMap<&str, &Observed> =
            observed.iter().map(|o| (o.name.as_str(), o)).collect();
        let mut changed = Vec::new();
        for c in &mut page.items {
            if c.proc_type == "run" {
                continue;
            }
            let state = by_name
                .get(c.name().as_str())
                .map_or(ContainerState::Down, |o| o.state);
            if state != c.state {
                c.state = state;
                changed.push((c.uuid, state));
            }
        }
        if !changed.is_empty()
            && let Err(e) = self.store.set_states(&changed).await
        {
            tracing::warn!(app, error = %e, "could not store observed states");
        }
        page
    }

    /// Scales process types to the requested counts (merged into the stored structure).
    pub async fn scale(&self, user: &User, id: &str, request: &Structure) -> Result<(), Error> {
        let app = self.visible_app(user, id).await?;
        if request.values().any(|n| *n < 0) {
            return Err(Error::Rejected(
                "[u'Must be greater than or equal to zero']".into(),
            ));
        }
        if request.values().any(|n| *n > validate::MAX_SCALE) {
            return Err(Error::Rejected(validate::too_many()));
        }
        let _lock = self.store.lock_app(&app.id).await?;
        let app = self.store.app(&app.id).await?;
        let latest = self.store.latest_release(&app.id).await?;
        let Some(build_id) = latest.build else {
            return Err(Error::Rejected(
                "No build associated with this release".into(),
            ));
        };
        let build = self.store.build(&app.id, build_id).await?;
        if let Some(bad) = request.keys().find(|t| !valid_type(&build, t)) {
            return Err(Error::Rejected(format!(
                "Container type {bad} does not exist in application"
            )));
        }
        let config = self.store.config(latest.config).await?;
        self.scale_locked(user, &app, &latest, &build, &config, request)
            .await
    }

    /// The scale algorithm; the caller holds the app's lock.
    async fn scale_locked(
        &self,
        user: &User,
        app: &App,
        latest: &Release,
        build: &Build,
        config: &Config,
        request: &Structure,
    ) -> Result<(), Error> {
        let existing: Vec<Container> = self.processes(&app.id).await?;
        let now = timefmt::now();
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for (proc_type, wanted) in request {
            let of_type: Vec<&Container> = existing
                .iter()
                .filter(|c| &c.proc_type == proc_type)
                .collect();
            let have = i64::try_from(of_type.len()).unwrap_or(i64::MAX);
            let first = of_type.iter().map(|c| c.num).max().unwrap_or(0) + 1;
            for next in (first..).take(usize::try_from(wanted - have).unwrap_or(0)) {
                add.push(Container {
                    uuid: Uuid::new_v4(),
                    app: app.id.clone(),
                    owner: app.owner.clone(),
                    release: latest.version,
                    proc_type: proc_type.clone(),
                    num: next,
                    state: ContainerState::Initialized,
                    created: now,
                    updated: now,
                });
            }
            let surplus = usize::try_from(have - wanted).unwrap_or(0);
            // The newest go, kept in creation order so that an undo puts them back in place.
            let keep = of_type.len().saturating_sub(surplus);
            remove.extend(of_type.iter().skip(keep).map(|c| (*c).clone()));
        }
        let structure = release::merge_structure(&app.structure, request);
        if add.is_empty() && remove.is_empty() && structure == app.structure {
            return Ok(());
        }
        let line = request
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let event = format!("{}: {} scaled containers {line}", app.id, user.username);
        self.store
            .commit_scale(&app.id, &structure, &add, &remove, Some(event))
            .await?;
        if !add.is_empty() {
            let specs: Vec<ContainerSpec> =
                add.iter().map(|c| self.spec(c, build, config)).collect();
            if let Err(e) = self.scheduler.start(&specs).await {
                self.event(
                    &app.id,
                    format!("{}: aborting, failed to create some containers", app.id),
                )
                .await;
                if let Err(undo) = self
                    .store
                    .commit_scale(&app.id, &app.structure, &remove, &add, None)
                    .await
                {
                    tracing::error!(app = %app.id, error = %undo, "could not undo a failed scale");
                }
                return Err(unavailable(
                    "aborting, failed to create some containers",
                    &e,
                ));
            }
            let up: Vec<(Uuid, ContainerState)> =
                add.iter().map(|c| (c.uuid, ContainerState::Up)).collect();
            self.store.set_states(&up).await?;
        }
        if !remove.is_empty() {
            let names: Vec<String> = remove.iter().map(Container::name).collect();
            if let Err(e) = self.scheduler.remove(&names).await {
                // All or nothing: take back what this step started and put the record back
                // as it was; whatever the engine still holds, reconciliation settles.
                self.event(
                    &app.id,
                    format!("{}: aborting, failed to destroy some containers", app.id),
                )
                .await;
                let started: Vec<String> = add.iter().map(Container::name).collect();
                if !started.is_empty()
                    && let Err(e) = self.scheduler.remove(&started).await
                {
                    tracing::warn!(app = %app.id, error = %e, "containers of a failed scale left for reconciliation");
                }
                if let Err(undo) = self
                    .store
                    .commit_scale(&app.id, &app.structure, &remove, &add, None)
                    .await
                {
                    tracing::error!(app = %app.id, error = %undo, "could not undo a failed scale");
                }
                return Err(unavailable(
                    "aborting, failed to destroy some containers",
                    &e,
                ));
            }
        }
        Ok(())
    }

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
            let num = self
                .store
                .containers(&app.id)
                .await?
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
                timeout: self.settings.run_timeout,
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
        result.map_err(|e| unavailable("could not run the command", &e))
    }

    /// The app's log: platform events merged with container output, oldest first.
    pub async fn logs(&self, user: &User, id: &str) -> Result<Option<String>, Error> {
        let app = self.visible_app(user, id).await?;
        let limit = self.settings.log_lines;
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

    async fn event(&self, app: &str, message: String) {
        if let Err(e) = self.store.append_events(app, vec![message]).await {
            tracing::warn!(app, error = %e, "could not record an event");
        }
    }

    // ---- domains, sharing, admins, keys -------------------------------------------------

    /// Adds a custom domain to the app.
    pub async fn add_domain(&self, user: &User, id: &str, body: &JsonMap) -> Result<Domain, Error> {
        let app = self.visible_app(user, id).await?;
        let name = match body.get("domain") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(Error::field("domain", "Not a valid string.")),
        };
        validate::domain(&name).map_err(|m| Error::field("domain", m))?;
        let now = timefmt::now();
        let domain = Domain {
            domain: name.clone(),
            owner: user.username.clone(),
            app: app.id.clone(),
            created: now,
            updated: now,
        };
        let events = vec![
            format!("{}: domain {name} added", app.id),
            format!("domain {name} added"),
        ];
        match self.store.add_domain(domain.clone(), events).await {
            Err(StoreError::Conflict(_)) => Err(Error::field(
                "domain",
                format!("The domain {name} is already in use by another app"),
            )),
            other => other.map(|()| domain).map_err(Error::from),
        }
    }

    /// Domains of the app.
    pub async fn list_domains(
        &self,
        user: &User,
        id: &str,
        page: PageSel,
    ) -> Result<Page<Domain>, Error> {
        let app = self.visible_app(user, id).await?;
        Ok(self.store.list_domains(&app.id, page).await?)
    }

    /// Removes a custom domain from the app.
    pub async fn remove_domain(&self, user: &User, id: &str, domain: &str) -> Result<(), Error> {
        let app = self.visible_app(user, id).await?;
        let events = vec![
            format!("{}: domain {domain} removed", app.id),
            format!("domain {domain} removed"),
        ];
        Ok(self.store.remove_domain(&app.id, domain, events).await?)
    }

    /// Users the app is shared with.
    pub async fn collaborators(&self, user: &User, id: &str) -> Result<Vec<String>, Error> {
        let app = self.visible_app(user, id).await?;
        Ok(self.store.collaborators(&app.id).await?)
    }

    async fn manageable_app(&self, user: &User, id: &str) -> Result<App, Error> {
        let app = self.visible_app(user, id).await?;
        if user.is_superuser || app.owner == user.username {
            Ok(app)
        } else {
            Err(Error::ForbiddenEmpty)
        }
    }

    /// Shares the app with a user (owner or admin only).
    pub async fn grant(&self, user: &User, id: &str, username: &str) -> Result<(), Error> {
        let app = self.manageable_app(user, id).await?;
        let target = self.store.user_by_name(username).await?;
        let event = format!(
            "{}: User {} was granted access to {}",
            app.id, target.username, app.id
        );
        match self.store.grant(&app.id, &target.username, event).await {
            // A concurrent grant of the same user won the race: granting is idempotent.
            Err(StoreError::Conflict(_)) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Stops sharing the app with a user (owner or admin only).
    pub async fn revoke(&self, user: &User, id: &str, username: &str) -> Result<(), Error> {
        let app = self.manageable_app(user, id).await?;
        let target = self.store.user_by_name(username).await?;
        let event = format!(
            "{}: User {} was revoked access to {}",
            app.id, target.username, app.id
        );
        match self.store.revoke(&app.id, &target.username, event).await {
            Err(StoreError::NotFound(_)) => Err(Error::NotFoundEmpty),
            other => Ok(other?),
        }
    }

    /// Active administrators (admins only).
    pub async fn list_admins(&self, user: &User, page: PageSel) -> Result<Page<User>, Error> {
        require_admin(user)?;
        Ok(self.store.list_admins(page).await?)
    }

    /// Grants or revokes administrator rights (admins only).
    pub async fn set_admin(&self, user: &User, username: &str, on: bool) -> Result<(), Error> {
        require_admin(user)?;
        Ok(self.store.set_superuser(username, on).await?)
    }

    /// Adds an SSH key to the user's account.
    pub async fn add_key(&self, user: &User, body: &JsonMap) -> Result<Key, Error> {
        let mut errors = Collector::default();
        let field = |name: &str| match body.get(name) {
            None | Some(Value::Null) => Err(REQUIRED.to_string()),
            Some(Value::String(s)) if s.trim().is_empty() => Err(REQUIRED.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err("Not a valid string.".to_string()),
        };
        let id = errors.check(
            "id",
            field("id").and_then(|id| validate::max_len(&id, 128).map(|()| id)),
        );
        let public = errors.check(
            "public",
            field("public").and_then(|p| validate::public_key(&p).map(|()| p.trim().to_owned())),
        );
        errors.finish()?;
        let (Some(id), Some(public)) = (id, public) else {
            return Err(Error::field("public", REQUIRED));
        };
        let now = timefmt::now();
        let key = Key {
            uuid: Uuid::new_v4(),
            id,
            owner: user.username.clone(),
            public,
            created: now,
            updated: now,
        };
        match self.store.add_key(key.clone()).await {
            Err(StoreError::Conflict(field)) if field == "public" => Err(Error::field(
                "public",
                "SSH Key with this Public already exists.",
            )),
            Err(StoreError::Conflict(_)) => Err(Error::field(
                "id",
                "SSH Key with this Owner and Id already exists.",
            )),
            other => other.map(|()| key).map_err(Error::from),
        }
    }

    // ---- builder hooks ------------------------------------------------------------------

    /// Resolves the acting user and app of a builder hook; the user must be able to use the app.
    pub async fn hook_actor(&self, body: &JsonMap) -> Result<(User, App), Error> {
        let mut errors = Collector::default();
        let field = |name: &str| match body.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(REQUIRED.to_string()),
        };
        let user = errors.check("receive_user", field("receive_user"));
        let repo = errors.check("receive_repo", field("receive_repo"));
        errors.finish()?;
        let (Some(user), Some(repo)) = (user, repo) else {
            return Err(Error::field("receive_user", REQUIRED));
        };
        let user = self.store.user_by_name(&user).await?;
        if !validate::is_app_id(&repo) {
            return Err(Error::NotFound);
        }
        let app = self.store.app(&repo).await?;
        if self.can_see(&user, &app).await? {
            Ok((user, app))
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Records a push the builder received.
    pub async fn record_push(&self, body: &JsonMap) -> Result<Push, Error> {
        let (user, app) = self.hook_actor(body).await?;
        let mut errors = Collector::default();
        let mut field = |name: &str, max: usize| {
            let value = match body.get(name) {
                Some(Value::String(s)) if !s.is_empty() => {
                    validate::max_len(s, max).map(|()| s.clone())
                }
                _ => Err(REQUIRED.to_string()),
            };
            errors.check(name, value).unwrap_or_default()
        };
        let sha = field("sha", 40);
        let fingerprint = field("fingerprint", 255);
        let ssh_connection = field("ssh_connection", 255);
        let ssh_original_command = field("ssh_original_command", 255);
        errors.finish()?;
        let now = timefmt::now();
        let push = Push {
            uuid: Uuid::new_v4(),
            app: app.id.clone(),
            owner: user.username.clone(),
            sha,
            fingerprint,
            receive_user: user.username.clone(),
            receive_repo: app.id.clone(),
            ssh_connection,
            ssh_original_command,
            created: now,
            updated: now,
        };
        self.store.add_push(push.clone()).await?;
        Ok(push)
    }

    // ---- reconciliation -----------------------------------------------------------------

    /// Makes the engine match the database: starts missing containers, removes this
    /// controller's orphans and stores observed states. Returns how many containers it
    /// started and removed.
    pub async fn reconcile(&self) -> Result<(usize, usize), Error> {
        let observed = self
            .scheduler
            .list(None)
            .await
            .map_err(|e| unavailable("reconcile", &e))?;
        let apps: HashSet<String> = self.store.all_app_ids().await?.into_iter().collect();
        let mut started = 0;
        let mut removed = 0;
        let orphans: Vec<String> = observed
            .iter()
            .filter(|o| !apps.contains(&o.app) && o.proc_type != "run")
            .map(|o| o.name.clone())
            .collect();
        if !orphans.is_empty() {
            removed += orphans.len();
            self.scheduler
                .remove(&orphans)
                .await
                .map_err(|e| unavailable("reconcile", &e))?;
        }
        for app in apps {
            let of_app: Vec<&Observed> = observed.iter().filter(|o| o.app == app).collect();
            match self.reconcile_app(&app, &of_app).await {
                Ok((s, r)) => {
                    started += s;
                    removed += r;
                }
                Err(e) => tracing::warn!(app = %app, error = %e, "reconciling the app failed"),
            }
        }
        Ok((started, removed))
    }

    async fn reconcile_app(
        &self,
        id: &str,
        seen_before_lock: &[&Observed],
    ) -> Result<(usize, usize), Error> {
        let _lock = self.store.lock_app(id).await?;
        let desired: Vec<Container> = self.processes(id).await?;
        if desired.is_empty() && seen_before_lock.is_empty() {
            return Ok((0, 0));
        }
        let observed = self
            .scheduler
            .list(Some(id))
            .await
            .map_err(|e| unavailable("reconcile", &e))?;
        let by_name: HashMap<String, &Observed> =
            observed.iter().map(|o| (o.name.clone(), o)).collect();
        let wanted: HashSet<String> = desired.iter().map(Container::name).collect();
        let orphans: Vec<String> = observed
            .iter()
            .filter(|o| o.proc_type != "run" && !wanted.contains(&o.name))
            .map(|o| o.name.clone())
            .collect();
        let mut specs = Vec::new();
        let mut states = Vec::new();
        for c in &desired {
            match by_name.get(&c.name()) {
                // Created (a crash between create and start), stopped and removed containers are
                // started again; crashed ones are the restart policy's to bring back.
                Some(o)
                    if !matches!(
                        o.state,
                        ContainerState::Destroyed | ContainerState::Created | ContainerState::Down
                    ) =>
                {
                    if o.state != c.state {
                        states.push((c.uuid, o.state));
                    }
                }
                _ => {
                    let release = self.store.release(id, c.release).await?;
                    let Some(build_id) = release.build else {
                        continue;
                    };
                    let build = self.store.build(id, build_id).await?;
                    let config = self.store.config(release.config).await?;
                    specs.push((c.uuid, self.spec(c, &build, &config)));
                }
            }
        }
        let started = specs.len();
        if !specs.is_empty() {
            let only: Vec<ContainerSpec> = specs.iter().map(|(_, s)| s.clone()).collect();
            let state = match self.scheduler.start(&only).await {
                Ok(()) => ContainerState::Up,
                Err(e) => {
                    tracing::warn!(app = id, error = %e, "reconcile could not start missing containers");
                    ContainerState::Error
                }
            };
            states.extend(specs.iter().map(|(u, _)| (*u, state)));
        }
        if !orphans.is_empty() {
            self.scheduler
                .remove(&orphans)
                .await
                .map_err(|e| unavailable("reconcile", &e))?;
        }
        if !states.is_empty() {
            self.store.set_states(&states).await?;
        }
        Ok((started, orphans.len()))
    }
}

fn require_admin(user: &User) -> Result<(), Error> {
    if user.is_superuser {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// The first seven characters of a uuid, as event lines show them.
fn short(uuid: Uuid) -> String {
    uuid.simple().to_string().chars().take(7).collect()
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "calm", "clever", "cosmic", "crisp", "dapper", "eager", "fancy",
    "gentle", "golden", "happy", "hidden", "jolly", "keen", "lively", "lucky", "mellow", "nimble",
    "peachy", "proud", "quiet", "rapid", "rustic", "shiny", "silent", "sunny", "swift", "tidy",
    "vivid", "witty",
];
const NOUNS: &[&str] = &[
    "anchor", "badger", "beacon", "bramble", "canyon", "cedar", "comet", "dingo", "ember",
    "falcon", "fjord", "gazelle", "harbor", "island", "jigsaw", "lantern", "meadow", "nebula",
    "otter", "pebble", "quartz", "raven", "saddle", "summit", "thicket", "tundra", "valley",
    "walrus", "waxworks", "willow", "yonder", "zephyr",
];

/// A fresh `<adjective>-<noun>` app id.
fn random_app_id() -> String {
    use rand::seq::IndexedRandom;
    let mut rng = rand::rng();
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("brave");
    let noun = NOUNS.choose(&mut rng).copied().unwrap_or("otter");
    format!("{adjective}-{noun}")
}
