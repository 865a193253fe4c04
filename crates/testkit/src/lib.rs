//! Test support, never linked into the binary: in-memory [`Scheduler`] and [`Routing`]
//! doubles with injectable failures, and the real API server on port 0 over a real database.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use deis_api::{ApiSettings, ApiState, Metrics, Registration, ServerLimits};
use deis_domain::{
    AppRoutes, ContainerSpec, ContainerState, Endpoint, ImageInfo, LogLine, LogStream, Observed,
    Platform, PlatformSettings, Routing, RunEvent, RunEvents, RunInput, RunInputs, RunOutput,
    RunSpec, Scheduler, SchedulerError, SealingKey, Store, TagKind, TlsCertificate, TtySize,
    Unhealthy,
};
use futures_util::StreamExt;

/// The release namespace of the fake engine: `deis-release/test/{app}:v{N}`.
pub const RELEASES: &str = "deis-release/test/";
/// Where every controller's release images live, this one's and others'.
const NAMESPACE: &str = "deis-release/";

/// What the fake engine holds: running containers by name, images, and one-off runs.
///
/// Images: a name never seen before (outside the release namespace) exists, as an image of
/// its own, unless it is listed in `missing`; release names exist once published.
#[derive(Debug, Default)]
pub struct Engine {
    /// Running containers by name.
    pub containers: BTreeMap<String, ContainerSpec>,
    /// The address each container got, by name.
    pub addresses: BTreeMap<String, IpAddr>,
    /// When each container started, by name (its log lines carry this time).
    pub started: BTreeMap<String, time::OffsetDateTime>,
    /// Addresses handed out so far.
    handed_out: u32,
    /// Image tags and the id of the image each names.
    pub images: BTreeMap<String, String>,
    /// Ids of every image, tagged or not.
    pub ids: BTreeSet<String>,
    /// Names the engine does not have.
    pub missing: BTreeSet<String>,
    /// One-off commands that ran.
    pub runs: Vec<RunSpec>,
}

impl Engine {
    /// The id of the image `reference` (a tag or a whole or short id) names, making an image
    /// for a name never seen before.
    fn resolve(&mut self, reference: &str) -> Option<String> {
        if self.missing.contains(reference) {
            return None;
        }
        if let Some(id) = self.images.get(reference) {
            return Some(id.clone());
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut matching = self
                .ids
                .iter()
                .filter(|id| id.trim_start_matches("sha256:").starts_with(hex));
            if let (Some(id), None) = (matching.next(), matching.next()) {
                return Some(id.clone());
            }
            if reference.starts_with("sha256:") {
                return None;
            }
        }
        if reference.starts_with(NAMESPACE) {
            return None;
        }
        let id = format!("sha256:{:064x}", self.ids.len() + 1);
        self.ids.insert(id.clone());
        self.images.insert(reference.to_owned(), id.clone());
        Some(id)
    }

    fn tags_of(&self, id: &str) -> Vec<String> {
        self.images
            .iter()
            .filter(|(_, of)| *of == id)
            .map(|(tag, _)| tag.clone())
            .collect()
    }

    /// This fake's release tags: (app, version, tag).
    fn releases(&self) -> Vec<(String, i64, String)> {
        self.images
            .keys()
            .filter_map(|tag| match parse_release(tag) {
                TagKind::Release { app, version } => Some((app, version, tag.clone())),
                _ => None,
            })
            .collect()
    }
}

fn parse_release(tag: &str) -> TagKind {
    let Some(rest) = tag.strip_prefix(NAMESPACE) else {
        return TagKind::Ordinary;
    };
    rest.strip_prefix("test/")
        .and_then(|named| named.split_once(":v"))
        .and_then(|(app, version)| {
            Some(TagKind::Release {
                app: app.to_owned(),
                version: version.parse().ok()?,
            })
        })
        .unwrap_or(TagKind::Reserved)
}

/// Records what would have run and fails on demand; never talks to Docker.
#[derive(Debug, Default)]
pub struct FakeScheduler {
    engine: Mutex<Engine>,
    /// The next `start` fails (once).
    pub fail_next_start: AtomicBool,
    /// The next `start` starts this many of its containers, then fails and leaves them
    /// running, as an engine that also failed to clean up would (once).
    pub fail_next_start_after: Mutex<Option<usize>>,
    /// Every call fails as if the engine were unreachable.
    pub unreachable: AtomicBool,
    /// One-off runs, once recorded in [`Engine::runs`], wait while a test holds this for
    /// writing (to have runs going at once).
    pub run_gate: tokio::sync::RwLock<()>,
    /// Lines containers print (`{name} started` at start, and [`FakeScheduler::print`]), by
    /// app, to every follower.
    printed: Printer,
    /// How many `follow_logs` streams are open.
    pub followers: Arc<AtomicUsize>,
    /// Attached runs whose container exists now, by name: until their output ended and was
    /// dropped, or was dropped early (the container removed).
    pub attached: Arc<Mutex<BTreeSet<String>>>,
    /// Terminal sizes attached runs were given (at start and by resizes), by run name.
    pub resizes: Arc<Mutex<Vec<(String, TtySize)>>>,
}

/// Removes an attached run from [`FakeScheduler::attached`] when its output is dropped.
struct AttachedRun {
    name: String,
    attached: Arc<Mutex<BTreeSet<String>>>,
}

impl Drop for AttachedRun {
    fn drop(&mut self) {
        self.attached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.name);
    }
}

/// The fake engine's broadcast of printed lines, by app.
#[derive(Debug)]
struct Printer(tokio::sync::broadcast::Sender<(String, LogLine)>);

impl Default for Printer {
    fn default() -> Self {
        Self(tokio::sync::broadcast::channel(1024).0)
    }
}

/// Counts a follow stream while it is open.
struct Following(Arc<AtomicUsize>);

impl Drop for Following {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeScheduler {
    /// The engine's current contents.
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The running container `name` prints `text` (to followers; `logs` does not keep it).
    pub fn print(&self, name: &str, text: &str) {
        let Some(spec) = self.engine().containers.get(name).cloned() else {
            panic!("no container {name} to print");
        };
        let line = LogLine {
            at: deis_domain::timefmt::now(),
            source: format!("{}.{}", spec.proc_type, spec.num),
            text: text.to_owned(),
        };
        // Nobody following is fine.
        let _ = self.printed.0.send((spec.app, line));
    }

    /// Names of running containers, sorted.
    pub fn names(&self) -> Vec<String> {
        self.engine().containers.keys().cloned().collect()
    }

    /// The id of the image `reference` names (making one for a name never seen before).
    pub fn id_of(&self, reference: &str) -> Option<String> {
        self.engine().resolve(reference)
    }

    /// Removes the tag from its image, which stays (reachable by id); the name is missing
    /// from now on.
    pub fn untag(&self, tag: &str) {
        let mut engine = self.engine();
        engine.images.remove(tag);
        engine.missing.insert(tag.to_owned());
    }

    /// The release versions of `app` that have an image, ascending.
    pub fn release_tags(&self, app: &str) -> Vec<i64> {
        let mut versions: Vec<i64> = self
            .engine()
            .releases()
            .into_iter()
            .filter(|(of, _, _)| of == app)
            .map(|(_, version, _)| version)
            .collect();
        versions.sort_unstable();
        versions
    }

    fn reachable(&self) -> Result<(), SchedulerError> {
        if self.unreachable.load(Ordering::SeqCst) {
            Err(SchedulerError::Unavailable(
                "docker engine unreachable (injected)".into(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Scheduler for FakeScheduler {
    fn release_image(&self, app: &str, version: i64) -> String {
        format!("{RELEASES}{app}:v{version}")
    }

    fn tag_kind(&self, tag: &str) -> TagKind {
        parse_release(tag)
    }

    async fn ping(&self) -> Result<(), SchedulerError> {
        self.reachable()
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, SchedulerError> {
        self.reachable()?;
        let mut engine = self.engine();
        Ok(engine.resolve(reference).map(|id| ImageInfo {
            tags: engine.tags_of(&id),
            id,
        }))
    }

    async fn publish(&self, source: &str, app: &str, version: i64) -> Result<(), SchedulerError> {
        self.reachable()?;
        let mut engine = self.engine();
        let id = engine
            .resolve(source)
            .ok_or_else(|| SchedulerError::Failed(format!("image {source} not found")))?;
        engine.images.insert(self.release_image(app, version), id);
        Ok(())
    }

    async fn release_versions(&self, app: &str) -> Result<Vec<i64>, SchedulerError> {
        self.reachable()?;
        Ok(self.release_tags(app))
    }

    async fn unpublish(&self, app: &str, versions: &[i64]) -> Result<(), SchedulerError> {
        self.reachable()?;
        let mut engine = self.engine();
        for version in versions {
            engine.images.remove(&self.release_image(app, *version));
        }
        Ok(())
    }

    async fn published_apps(&self) -> Result<Vec<String>, SchedulerError> {
        self.reachable()?;
        let mut apps: Vec<String> = self
            .engine()
            .releases()
            .into_iter()
            .map(|(app, _, _)| app)
            .collect();
        apps.sort();
        apps.dedup();
        Ok(apps)
    }

    async fn forget(&self, app: &str) -> Result<(), SchedulerError> {
        self.reachable()?;
        let mut engine = self.engine();
        let doomed: Vec<String> = engine
            .releases()
            .into_iter()
            .filter(|(of, _, _)| of == app)
            .map(|(_, _, tag)| tag)
            .collect();
        for tag in doomed {
            engine.images.remove(&tag);
        }
        Ok(())
    }

    async fn start(&self, specs: &[ContainerSpec]) -> Result<(), SchedulerError> {
        self.reachable()?;
        if self.fail_next_start.swap(false, Ordering::SeqCst) {
            return Err(SchedulerError::Failed(
                "container failed to start (injected)".into(),
            ));
        }
        let half_way = self
            .fail_next_start_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut engine = self.engine();
        for spec in specs.iter().take(half_way.unwrap_or(usize::MAX)) {
            engine.handed_out += 1;
            let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + engine.handed_out));
            engine.addresses.insert(spec.name.clone(), address);
            let now = deis_domain::timefmt::now();
            engine.started.insert(spec.name.clone(), now);
            engine.containers.insert(spec.name.clone(), spec.clone());
            let line = LogLine {
                at: now,
                source: format!("{}.{}", spec.proc_type, spec.num),
                text: format!("{} started", spec.name),
            };
            let _ = self.printed.0.send((spec.app.clone(), line));
        }
        match half_way {
            Some(n) => Err(SchedulerError::Failed(format!(
                "started {n} of {} containers, then failed (injected)",
                specs.len()
            ))),
            None => Ok(()),
        }
    }

    async fn remove(&self, names: &[String]) -> Result<(), SchedulerError> {
        self.reachable()?;
        let mut engine = self.engine();
        for name in names {
            engine.containers.remove(name);
            engine.addresses.remove(name);
            engine.started.remove(name);
        }
        Ok(())
    }

    async fn list(&self, app: Option<&str>) -> Result<Vec<Observed>, SchedulerError> {
        self.reachable()?;
        let engine = self.engine();
        Ok(engine
            .containers
            .values()
            .filter(|s| app.is_none_or(|a| a == s.app))
            .map(|s| Observed {
                name: s.name.clone(),
                app: s.app.clone(),
                version: s.version,
                proc_type: s.proc_type.clone(),
                num: s.num,
                state: ContainerState::Up,
                address: engine.addresses.get(&s.name).copied(),
                port: None,
            })
            .collect())
    }

    async fn run(&self, spec: &RunSpec) -> Result<RunOutput, SchedulerError> {
        self.reachable()?;
        self.engine().runs.push(spec.clone());
        drop(self.run_gate.read().await);
        let mut output = format!("ran {}\n", spec.command);
        let truncated = output.len() > spec.output_limit;
        if truncated {
            let mut end = spec.output_limit;
            while !output.is_char_boundary(end) {
                end -= 1;
            }
            output.truncate(end);
        }
        Ok(RunOutput {
            exit_code: 0,
            output,
            truncated,
        })
    }

    async fn logs(&self, app: &str, _lines: usize) -> Result<Vec<LogLine>, SchedulerError> {
        self.reachable()?;
        let engine = self.engine();
        Ok(engine
            .containers
            .values()
            .filter(|s| s.app == app)
            .map(|s| LogLine {
                at: engine
                    .started
                    .get(&s.name)
                    .copied()
                    .unwrap_or_else(deis_domain::timefmt::now),
                source: format!("{}.{}", s.proc_type, s.num),
                text: format!("{} started", s.name),
            })
            .collect())
    }

    /// Prints `ran {command}`, then echoes standard input to standard output (as `cat`) until
    /// it is closed, then exits 0; terminal sizes are recorded in `resizes`.
    async fn run_attached(
        &self,
        spec: &RunSpec,
        tty: Option<TtySize>,
        input: RunInputs,
    ) -> Result<RunEvents, SchedulerError> {
        self.reachable()?;
        self.engine().runs.push(spec.clone());
        if let Some(size) = tty {
            self.resizes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((spec.name.clone(), size));
        }
        self.attached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(spec.name.clone());
        let guard = AttachedRun {
            name: spec.name.clone(),
            attached: self.attached.clone(),
        };
        let resizes = self.resizes.clone();
        let name = spec.name.clone();
        let first = futures_util::stream::iter([Ok(RunEvent::Stdout(
            format!("ran {}\n", spec.command).into_bytes(),
        ))]);
        let echoed = input
            .take_while(|given| futures_util::future::ready(*given != RunInput::CloseStdin))
            .filter_map(move |given| {
                let out = match given {
                    RunInput::Stdin(bytes) => Some(Ok(RunEvent::Stdout(bytes))),
                    RunInput::Resize(size) => {
                        resizes
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((name.clone(), size));
                        None
                    }
                    RunInput::CloseStdin => None,
                };
                futures_util::future::ready(out)
            });
        let exit = futures_util::stream::iter([Ok(RunEvent::Exit(0))]);
        Ok(first
            .chain(echoed)
            .chain(exit)
            .map(move |event| {
                let _held = &guard;
                event
            })
            .boxed())
    }

    async fn follow_logs(&self, app: &str) -> Result<LogStream, SchedulerError> {
        self.reachable()?;
        self.followers.fetch_add(1, Ordering::SeqCst);
        let following = Following(self.followers.clone());
        let state = (self.printed.0.subscribe(), app.to_owned(), following);
        Ok(
            futures_util::stream::unfold(state, |(mut printed, app, following)| async move {
                loop {
                    match printed.recv().await {
                        Ok((of, line)) if of == app => {
                            return Some((line, (printed, app, following)));
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
            .boxed(),
        )
    }

    async fn tail(&self, name: &str, _lines: usize) -> String {
        if self.engine().containers.contains_key(name) {
            format!("{name} started\n")
        } else {
            String::new()
        }
    }
}

/// What the fake router was told.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// The routes of each app, as last set.
    pub apps: BTreeMap<String, AppRoutes>,
    /// Endpoints drained, in order.
    pub drained: Vec<Endpoint>,
    /// The certificates last handed over for HTTPS.
    pub certificates: Vec<TlsCertificate>,
}

/// Records the route table instead of routing; health checks fail on demand.
#[derive(Debug, Default)]
pub struct FakeRouting {
    table: Mutex<RouteTable>,
    /// Containers whose engine name contains one of these never become healthy.
    pub unhealthy: Mutex<Vec<String>>,
}

impl FakeRouting {
    /// The table as the use cases left it.
    pub fn table(&self) -> MutexGuard<'_, RouteTable> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes containers whose name contains `pattern` fail their health checks.
    pub fn fail_health_of(&self, pattern: &str) {
        self.unhealthy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pattern.to_owned());
    }
}

#[async_trait]
impl Routing for FakeRouting {
    async fn set_routes(&self, routes: AppRoutes) {
        self.table().apps.insert(routes.app.clone(), routes);
    }

    async fn remove_app(&self, app: &str) {
        self.table().apps.remove(app);
    }

    async fn await_healthy(
        &self,
        endpoints: &[Endpoint],
        _path: &str,
        _timeout: Duration,
    ) -> Result<(), Vec<Unhealthy>> {
        let patterns = self
            .unhealthy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let failed: Vec<Unhealthy> = endpoints
            .iter()
            .filter(|e| patterns.iter().any(|p| e.container.contains(p.as_str())))
            .map(|e| Unhealthy {
                endpoint: e.clone(),
                reason: "connection refused (injected)".into(),
            })
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }

    async fn set_certificates(&self, certificates: Vec<TlsCertificate>) {
        self.table().certificates = certificates;
    }

    async fn drain(&self, endpoints: &[Endpoint], _grace: Duration) {
        self.table().drained.extend(endpoints.iter().cloned());
    }
}

pub mod db;
pub mod tls;

pub use db::TestDb;

/// The builder key test servers accept.
pub const BUILDER_KEY: &str = "test-builder-key";

/// A running API server for black-box tests.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The scheduler double behind the server.
    pub scheduler: Arc<FakeScheduler>,
    /// The router double behind the server.
    pub routing: Arc<FakeRouting>,
    /// The store behind the server.
    pub store: Arc<dyn Store>,
    /// An HTTP client.
    pub http: reqwest::Client,
    _db: TestDb,
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers `username` (password `pw-<username>`) and logs in; returns the token.
    pub async fn user(&self, username: &str) -> String {
        let form = [
            ("username", username.to_owned()),
            ("password", format!("pw-{username}")),
            ("email", format!("{username}@example.com")),
        ];
        let res = self
            .http
            .post(self.url("/v1/auth/register"))
            .form(&form)
            .send()
            .await
            .expect("register");
        assert_eq!(
            res.status(),
            201,
            "register {username}: {}",
            res.text().await.unwrap_or_default()
        );
        let form = [
            ("username", username.to_owned()),
            ("password", format!("pw-{username}")),
        ];
        let res = self
            .http
            .post(self.url("/v1/auth/login/"))
            .form(&form)
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("login json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// An authenticated request builder.
    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("token {token}"))
            .header("X-Deis-Version", "1.0")
    }
}

/// Settings of test servers: cheap bcrypt, hooks enabled.
pub fn api_settings() -> ApiSettings {
    ApiSettings {
        secret_key: "test-secret".into(),
        token_lifetime: Duration::from_secs(3600),
        bcrypt_cost: 4,
        registration: Registration::Enabled,
        builder_key: Some(BUILDER_KEY.into()),
        body_limit: 64 * 1024,
        trust_forwarded_for: false,
        builder_port: None,
    }
}

/// The secret test servers derive the certificate sealing key from.
pub const SEALING_SECRET: &str = "test-sealing-secret";

/// Settings of test platforms: the defaults, with the sealing key of [`SEALING_SECRET`].
pub fn platform_settings() -> PlatformSettings {
    PlatformSettings {
        sealing_key: SealingKey::derive(SEALING_SECRET).expect("sealing key derives"),
        ..PlatformSettings::default()
    }
}

/// Starts the real API over a fresh database (see [`TestDb::new`]) and a [`FakeScheduler`] on port 0.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(api_settings()).await
}

/// Like [`spawn_app`] with other API settings.
pub async fn spawn_app_with(settings: ApiSettings) -> TestApp {
    spawn_app_configured(settings, platform_settings()).await
}

/// Like [`spawn_app`] with other API and platform settings.
pub async fn spawn_app_configured(settings: ApiSettings, platform: PlatformSettings) -> TestApp {
    spawn_app_served(
        settings,
        platform,
        ServerLimits::default(),
        Metrics::standalone(),
    )
    .await
}

/// A running API server with these settings, server limits and metrics.
pub async fn spawn_app_served(
    settings: ApiSettings,
    platform: PlatformSettings,
    limits: ServerLimits,
    metrics: Metrics,
) -> TestApp {
    let db = TestDb::new().await;
    let store = db.store();
    let scheduler = Arc::new(FakeScheduler::default());
    let routing = Arc::new(FakeRouting::default());
    let platform = Platform::new(store.clone(), scheduler.clone(), routing.clone(), platform);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let state = ApiState::new(platform, settings).with_metrics(metrics);
    let server = deis_api::run_with(listener, state, limits).expect("server starts");
    tokio::spawn(server);
    TestApp {
        base,
        scheduler,
        routing,
        store,
        http: reqwest::Client::new(),
        _db: db,
    }
}
