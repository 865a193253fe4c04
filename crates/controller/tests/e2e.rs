//! End to end: the real `deis-controller` binary, a SQLite file and the real Docker engine,
//! driven over HTTP as a client would, and checked from outside with the `docker` CLI.
//!
//! Every test runs its own controller on a free port with its own database file and its own
//! `DEIS_SCHEDULER_IDENTITY`, so tests run in parallel and never see each other's
//! containers. Its [`World`] removes every container carrying that identity, the containers
//! and images a test made by hand, and the identity's release images and network when it
//! ends, also on failure.
//! Waits are bounded polls of the engine or the API, never fixed sleeps.
//!
//! `DEIS_TEST_SCHEDULER=swarm` runs the controllers with `DEIS_SCHEDULER=swarm` (the engine
//! must manage a swarm; `cargo xtask test` runs every case but the Docker-only
//! `reconcile_starts_a_container_a_crash_left_created_but_not_started` so). Containers are then
//! the services' task containers, named by their `deis.name` label and addressed through their
//! service (`container_ref`); containers made by hand are services made by hand.
//!
//! The application image is `deis/test-app:latest` (`cargo xtask test-image`). Its default
//! process, `/bin/start`, serves HTTP on `$PORT` and exits at once on SIGTERM, so the web
//! process of the procfile below is `start` (an `exec httpd` as PID 1 would ignore SIGTERM
//! and make every removal wait out the stop grace period).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

const IMAGE: &str = "deis/test-app:latest";
/// A procfile whose web process is the image's own server (see the crate doc).
const WEB: &str = "start";
/// A sha makes the first build of a procfile with `web` scale to `web=1`.
const SHA: &str = "c0ffee0123456789abcdef0123456789abcdef01";
/// How long any convergence may take before a test gives up.
const CONVERGE: Duration = Duration::from_secs(60);
/// Pause between two polls of the engine or the API.
const POLL: Duration = Duration::from_millis(100);

// ---- the engine, through the docker CLI ----------------------------------------------------

/// Runs `docker args...` and returns its stdout, or its stderr as the error.
fn docker_try(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn docker(args: &[&str]) -> String {
    docker_try(args).unwrap_or_else(|e| panic!("{e}"))
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Names of the containers matching the filters, in any state or only running: a swarm
/// task's container by the port's name it carries (`deis.name`), any other by its own.
fn engine_names(filters: &[String], running_only: bool) -> BTreeSet<String> {
    let mut args = vec![
        "ps",
        "-a",
        "--format",
        "{{.Names}} {{.Label \"deis.name\"}}",
    ];
    for f in filters {
        args.extend(["--filter", f.as_str()]);
    }
    if running_only {
        args.extend(["--filter", "status=running"]);
    }
    lines(&docker(&args))
        .into_iter()
        .map(|line| match line.split_once(' ') {
            Some((_, label)) if !label.trim().is_empty() => label.trim().to_owned(),
            _ => line.split(' ').next().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The scheduler the controllers of this run use (`DEIS_TEST_SCHEDULER`, default `docker`).
fn scheduler() -> String {
    std::env::var("DEIS_TEST_SCHEDULER").unwrap_or_else(|_| "docker".to_owned())
}

/// Whether the controllers run on a swarm.
fn on_swarm() -> bool {
    scheduler() == "swarm"
}

/// The swarm service running the container `name` (the backend's readable form).
fn service_of(name: &str) -> String {
    name.replace('.', "_")
}

/// The filter selecting the task containers of `name`'s service.
fn service_label(name: &str) -> String {
    format!("label=com.docker.swarm.service.name={}", service_of(name))
}

/// What the docker CLI addresses the container `name` by: the name itself, or on a swarm the
/// id of its service's running task container (else its newest one); the name when none.
fn container_ref(name: &str) -> String {
    if !on_swarm() {
        return name.to_owned();
    }
    let filter = service_label(name);
    let running = docker_try(&["ps", "-q", "--filter", &filter]).unwrap_or_default();
    let any = docker_try(&["ps", "-aq", "--latest", "--filter", &filter]).unwrap_or_default();
    running
        .split_whitespace()
        .chain(any.split_whitespace())
        .next()
        .unwrap_or(name)
        .to_owned()
}

/// Whether the container `name` runs.
fn running(name: &str) -> bool {
    docker_try(&[
        "inspect",
        "--format",
        "{{.State.Running}}",
        &container_ref(name),
    ])
    .is_ok_and(|s| s.trim() == "true")
}

fn require_test_image() {
    if docker_try(&["image", "inspect", IMAGE]).is_err() {
        panic!(
            "{IMAGE} is missing from the docker engine: run `cargo xtask test-image` first \
             (`cargo xtask test` does it for you)"
        );
    }
}

/// A name no other test, run or session on this engine uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xfffff)
}

/// Polls `check` until it answers `Some`, failing the test after `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let began = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            began.elapsed() < limit,
            "gave up after {limit:?} waiting for {what}"
        );
        thread::sleep(POLL);
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

// ---- one test's world ------------------------------------------------------------------------

/// A test's identity, database directory and everything it must clean up.
struct World {
    identity: String,
    dir: tempfile::TempDir,
    foreign: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
}

impl World {
    fn new() -> Self {
        require_test_image();
        Self {
            identity: unique("e2e"),
            dir: tempfile::tempdir().expect("a temporary directory"),
            foreign: Mutex::new(Vec::new()),
            images: Mutex::new(Vec::new()),
        }
    }

    /// A fresh app id.
    fn app(&self, prefix: &str) -> String {
        unique(&format!("e2e{prefix}"))
    }

    /// Builds the test image plus one line of recipe as `tag`; removed at the end.
    fn image(&self, tag: &str, line: &str) {
        self.images.lock().expect("images").push(tag.to_owned());
        let mut build = Command::new("docker")
            .args(["build", "--quiet", "--tag", tag, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker build");
        let recipe = format!("FROM {IMAGE}\n{line}\n");
        build
            .stdin
            .take()
            .expect("stdin")
            .write_all(recipe.as_bytes())
            .expect("write the recipe");
        assert!(build.wait().expect("docker build").success(), "build {tag}");
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("deis.db").display())
    }

    fn label(&self) -> String {
        format!("label=deis.controller={}", self.identity)
    }

    /// This controller's containers of `app` (of every app when `None`).
    fn containers(&self, app: Option<&str>, running_only: bool) -> BTreeSet<String> {
        let mut filters = vec![self.label()];
        if let Some(app) = app {
            filters.push(format!("label=deis.app={app}"));
        }
        engine_names(&filters, running_only)
    }

    /// This controller's release images (of `app` when given) on the engine.
    fn release_images(&self, app: Option<&str>) -> BTreeSet<String> {
        let reference = format!(
            "reference=deis-release/{}/{}",
            self.identity,
            app.unwrap_or("*")
        );
        let format = "{{.Repository}}:{{.Tag}}";
        lines(
            &docker_try(&["images", "--filter", &reference, "--format", format])
                .unwrap_or_default(),
        )
    }

    /// Starts a container of the test image by hand with these labels; removed at the end.
    /// On a swarm, a service named after it whose task container carries the labels too, and
    /// which is running when this returns unless it claims to be ours (then the controller
    /// may remove it at once).
    fn foreign(&self, name: &str, labels: &[(&str, &str)]) {
        self.foreign.lock().expect("foreign").push(name.to_owned());
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if on_swarm() {
            let service = service_of(name);
            let mut args = vec!["service", "create", "--detach", "--name", &service];
            let named = format!("deis.name={name}");
            for l in labels.iter().chain([&named]) {
                args.extend(["--label", l.as_str(), "--container-label", l.as_str()]);
            }
            args.push(IMAGE);
            docker(&args);
            if labels.contains(&format!("deis.controller={}", self.identity)) {
                // Ours in the labels: the controller may remove the service at any time.
                wait_for(&format!("{name} to exist or be removed"), CONVERGE, || {
                    let exists = !docker_try(&["ps", "-aq", "--filter", &service_label(name)])
                        .unwrap_or_default()
                        .trim()
                        .is_empty();
                    (exists || docker_try(&["service", "inspect", &service]).is_err()).then_some(())
                });
            } else {
                wait_for(&format!("{name} to run"), CONVERGE, || {
                    running(name).then_some(())
                });
            }
            return;
        }
        let mut args = vec!["run", "-d", "--name", name];
        for l in &labels {
            args.extend(["--label", l.as_str()]);
        }
        args.push(IMAGE);
        // A container labelled as ours may be removed by a reconcile pass between the
        // engine's create and start; that is the outcome the test waits for anyway, and a
        // stranger removed this way fails the test's later checks.
        if let Err(e) = docker_try(&args)
            && !e.contains("marked for removal")
            && !e.contains("No such container")
            && !e.contains("already in progress")
        {
            panic!("{e}");
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let label = self.label();
        if on_swarm() {
            let services = lines(
                &docker_try(&["service", "ls", "-q", "--filter", &label]).unwrap_or_default(),
            );
            if !services.is_empty() {
                let mut args = vec!["service", "rm"];
                args.extend(services.iter().map(String::as_str));
                if let Err(e) = docker_try(&args) {
                    eprintln!("cleanup: {e}");
                }
            }
            // Task containers leave with their services, a moment later.
            let began = Instant::now();
            while began.elapsed() < Duration::from_secs(20)
                && !docker_try(&["ps", "-aq", "--filter", &label])
                    .unwrap_or_default()
                    .trim()
                    .is_empty()
            {
                thread::sleep(POLL);
            }
        }
        let mut doomed = lines(&docker_try(&["ps", "-aq", "--filter", &label]).unwrap_or_default());
        let foreign = self.foreign.lock().map(|f| f.clone()).unwrap_or_default();
        if on_swarm() {
            for name in &foreign {
                let _ = docker_try(&["service", "rm", &service_of(name)]);
                doomed.extend(lines(
                    &docker_try(&["ps", "-aq", "--filter", &service_label(name)])
                        .unwrap_or_default(),
                ));
            }
        } else {
            doomed.extend(foreign);
        }
        if !doomed.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(doomed.iter().map(String::as_str));
            if let Err(e) = docker_try(&args) {
                eprintln!("cleanup: {e}");
            }
        }
        let mut tags = self.release_images(None);
        tags.extend(self.images.lock().map(|i| i.clone()).unwrap_or_default());
        if !tags.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(tags.iter().map(String::as_str));
            if let Err(e) = docker_try(&args) {
                eprintln!("cleanup: {e}");
            }
        }
        // Not `network prune`: the engine runs one prune at a time and refuses the others.
        let mut networks =
            lines(&docker_try(&["network", "ls", "-q", "--filter", &label]).unwrap_or_default());
        if on_swarm() {
            // The swarm network carries no label; it goes before its configuration network.
            let swarm_network = format!("deis-apps-{}", self.identity);
            if docker_try(&["network", "rm", &swarm_network]).is_err() {
                networks.insert(swarm_network);
            }
        }
        if !networks.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(networks.iter().map(String::as_str));
            if let Err(e) = docker_try(&args) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

// ---- the controller process -----------------------------------------------------------------

/// A running `deis-controller serve`, killed on drop; its output goes to a file that is
/// printed when the test fails.
struct Controller {
    child: Child,
    base: String,
    /// `http://127.0.0.1:PORT` of the router's listener.
    router: String,
    log: PathBuf,
    http: Client,
}

impl Controller {
    /// Starts the binary on the world's database, with the world's identity, and waits
    /// until it answers `/healthz`.
    fn start(world: &World, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let router_port = free_port();
        let log = world.dir.path().join(format!("controller-{port}.log"));
        let out = File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deis-controller"));
        cmd.arg("serve")
            .env_remove("DEIS_CONFIG")
            .env_remove("DOCKER_HOST")
            .env("DEIS_BIND", format!("127.0.0.1:{port}"))
            .env("DEIS_ROUTER_BIND", format!("127.0.0.1:{router_port}"))
            .env("DEIS_BUILDER_BIND", "")
            .env("DEIS_DOMAIN", "localhost")
            .env("DEIS_DATABASE_URL", world.db_url())
            .env("DEIS_SECRET_KEY", "e2e-secret-key-of-enough-length")
            .env("DEIS_SCHEDULER_IDENTITY", &world.identity)
            .env("DEIS_SCHEDULER", scheduler())
            .env("DEIS_BCRYPT_COST", "4")
            .env("DEIS_RECONCILE_INTERVAL", "0")
            .env("DEIS_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut controller = Self {
            child: cmd.spawn().expect("start deis-controller"),
            base: format!("http://127.0.0.1:{port}"),
            router: format!("http://127.0.0.1:{router_port}"),
            log,
            http: Client::builder()
                .timeout(Duration::from_secs(180))
                .build()
                .expect("http client"),
        };
        let health = format!("{}/healthz", controller.base);
        wait_for(
            "the controller to answer /healthz",
            Duration::from_secs(30),
            || {
                if let Ok(Some(status)) = controller.child.try_wait() {
                    panic!(
                        "deis-controller exited ({status}):\n{}",
                        controller.output()
                    );
                }
                let res = controller.http.get(&health).send().ok()?;
                res.status().is_success().then_some(())
            },
        );
        controller
    }

    fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// SIGKILL, as a crash would.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the controller");
        self.child.wait().expect("reap the controller");
    }

    /// Registers and logs in a user.
    fn user(&self, username: &str) -> User {
        let form = [("username", username), ("password", "e2e-password")];
        let res = self
            .http
            .post(format!("{}/v1/auth/register", self.base))
            .form(&form)
            .send()
            .expect("register");
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        let body: Value = self
            .http
            .post(format!("{}/v1/auth/login/", self.base))
            .form(&form)
            .send()
            .expect("login")
            .json()
            .expect("login body");
        User {
            base: self.base.clone(),
            http: self.http.clone(),
            token: body["token"].as_str().expect("a token").to_owned(),
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "---- deis-controller output ({}) ----\n{}",
                self.log.display(),
                self.output()
            );
        }
    }
}

/// An authenticated client of one controller.
#[derive(Clone)]
struct User {
    base: String,
    http: Client,
    token: String,
}

/// A response read to its end.
struct Answer {
    status: StatusCode,
    release: Option<String>,
    body: Value,
}

impl Answer {
    fn read(res: Response) -> Self {
        let status = res.status();
        let release = res
            .headers()
            .get("X-Deis-Release")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = res.text().expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            release,
            body,
        }
    }

    fn expect(self, status: StatusCode, what: &str) -> Self {
        assert_eq!(self.status, status, "{what}: {}", self.body);
        self
    }
}

impl User {
    /// The same user talking to another controller (a restarted one).
    fn of(&self, ctl: &Controller) -> Self {
        Self {
            base: ctl.base.clone(),
            http: ctl.http.clone(),
            token: self.token.clone(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("token {}", self.token))
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.request(method.clone(), path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        Answer::read(
            req.send()
                .unwrap_or_else(|e| panic!("{method} {path}: {e}")),
        )
    }

    fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None)
    }

    fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body))
    }

    fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None)
    }

    fn create_app(&self, id: &str) {
        self.post("/v1/apps", json!({ "id": id }))
            .expect(StatusCode::CREATED, "create app");
    }

    /// Deploys the test image with a procfile whose web process serves HTTP.
    fn build_web(&self, app: &str) -> Answer {
        self.post(
            &format!("/v1/apps/{app}/builds"),
            json!({ "image": IMAGE, "sha": SHA, "procfile": { "web": WEB } }),
        )
        .expect(StatusCode::CREATED, "build")
    }

    fn scale(&self, app: &str, structure: Value) -> Answer {
        self.post(&format!("/v1/apps/{app}/scale"), structure)
    }

    /// The app's containers as the API lists them: engine name -> state, `run` records left out.
    fn containers(&self, app: &str) -> BTreeMap<String, String> {
        let page = self
            .get(&format!("/v1/apps/{app}/containers"))
            .expect(StatusCode::OK, "list containers")
            .body;
        page["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|c| c["type"] != "run")
            .map(|c| {
                let name = format!(
                    "{app}_{}.{}.{}",
                    c["release"].as_str().expect("release"),
                    c["type"].as_str().expect("type"),
                    c["num"]
                );
                (name, c["state"].as_str().expect("state").to_owned())
            })
            .collect()
    }
}

/// `{app}_v{N}.{type}.{num}` for each number.
fn names(
    app: &str,
    version: i64,
    proc_type: &str,
    nums: impl IntoIterator<Item = i64>,
) -> BTreeSet<String> {
    nums.into_iter()
        .map(|n| format!("{app}_v{version}.{proc_type}.{n}"))
        .collect()
}

/// Fails when two of the names are containers of the same process (`{type}.{num}`).
fn assert_one_container_per_process(found: &BTreeSet<String>) {
    let processes: BTreeSet<&str> = found
        .iter()
        .map(|n| n.split_once('.').map_or(n.as_str(), |(_, process)| process))
        .collect();
    assert_eq!(processes.len(), found.len(), "duplicates among {found:?}");
}

/// Waits until the engine holds exactly the containers the API lists for the app, each
/// running and listed `up`, and returns their names.
fn converged(world: &World, user: &User, app: &str) -> BTreeSet<String> {
    let began = Instant::now();
    loop {
        let listed = user.containers(app);
        let wanted: BTreeSet<String> = listed.keys().cloned().collect();
        let all = world.containers(Some(app), false);
        let running = world.containers(Some(app), true);
        if listed.values().all(|s| s == "up") && wanted == all && wanted == running {
            return wanted;
        }
        assert!(
            began.elapsed() < CONVERGE,
            "the engine did not match the database within {CONVERGE:?}:\n  \
             database: {listed:?}\n  engine: {all:?}\n  running: {running:?}"
        );
        thread::sleep(POLL);
    }
}

/// The labels of a web process of release 2, plus `extra`.
fn web_v2<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("deis.release", "2"), ("deis.type", "web")];
    all.extend_from_slice(extra);
    all
}

/// The environment of a running container.
fn env_of(container: &str) -> BTreeMap<String, String> {
    docker(&["exec", &container_ref(container), "env"])
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Sends `path` in the background, SIGKILLs the controller as soon as `in_flight` sees the
/// engine working on it, and returns a restarted controller that reconciles every second.
fn crash_during(
    world: &World,
    mut ctl: Controller,
    user: &User,
    path: &str,
    body: &Value,
    in_flight: impl Fn() -> bool,
) -> Controller {
    thread::scope(|s| {
        // The request fails when its server dies; only the crash matters here.
        let pending = s.spawn(|| user.request(reqwest::Method::POST, path).json(body).send());
        wait_for("the engine to work on the request", CONVERGE, || {
            in_flight().then_some(())
        });
        ctl.kill9();
        let _ = pending.join();
    });
    eprintln!(
        "after SIGKILL the engine holds {:?}",
        world.containers(None, false)
    );
    Controller::start(world, &[("DEIS_RECONCILE_INTERVAL", "1")])
}

// ---- the tests ----------------------------------------------------------------------------------

#[test]
fn a_web_app_lives_through_build_scale_config_run_logs_and_destroy() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let alice = ctl.user("alice");
    let app = world.app("life");
    alice.create_app(&app);

    // A build with a sha and a procfile with `web` scales to web=1, which really serves.
    let build = alice.build_web(&app);
    assert_eq!(build.release.as_deref(), Some("2"));
    assert_eq!(
        world.containers(Some(&app), true),
        names(&app, 2, "web", [1])
    );
    assert_eq!(
        alice.containers(&app),
        BTreeMap::from([(format!("{app}_v2.web.1"), "up".to_owned())])
    );
    let web1 = format!("{app}_v2.web.1");
    let served = docker(&[
        "exec",
        &container_ref(&web1),
        "wget",
        "-qO-",
        "http://127.0.0.1:5000/",
    ]);
    assert_eq!(served.trim(), "ok", "the web process serves on $PORT");
    let shown = alice
        .get(&format!("/v1/apps/{app}"))
        .expect(StatusCode::OK, "app")
        .body;
    assert_eq!(shown["structure"], json!({ "web": 1 }));

    // Scale up, down, and refuse a type the build does not have.
    alice
        .scale(&app, json!({ "web": 3 }))
        .expect(StatusCode::NO_CONTENT, "web=3");
    assert_eq!(
        world.containers(Some(&app), false),
        names(&app, 2, "web", 1..=3)
    );
    assert_eq!(
        world.containers(Some(&app), true),
        names(&app, 2, "web", 1..=3)
    );
    assert!(alice.containers(&app).values().all(|s| s == "up"));
    alice
        .scale(&app, json!({ "web": 1 }))
        .expect(StatusCode::NO_CONTENT, "web=1");
    assert_eq!(
        world.containers(Some(&app), false),
        names(&app, 2, "web", [1])
    );
    let refused = alice
        .scale(&app, json!({ "worker": 2 }))
        .expect(StatusCode::BAD_REQUEST, "unknown type");
    assert_eq!(
        refused.body,
        json!("Container type worker does not exist in application")
    );
    assert_eq!(
        world.containers(Some(&app), false),
        names(&app, 2, "web", [1])
    );

    // A config change is a new release: new names, the new environment inside.
    let set = alice
        .post(
            &format!("/v1/apps/{app}/config"),
            json!({ "values": { "GREETING": "hello world" } }),
        )
        .expect(StatusCode::CREATED, "config:set");
    assert_eq!(set.release.as_deref(), Some("3"));
    assert_eq!(
        world.containers(Some(&app), false),
        names(&app, 3, "web", [1])
    );
    let env = env_of(&format!("{app}_v3.web.1"));
    assert_eq!(env.get("GREETING").map(String::as_str), Some("hello world"));
    assert_eq!(env.get("DEIS_RELEASE").map(String::as_str), Some("v3"));
    assert_eq!(env.get("DEIS_APP"), Some(&app));
    assert_eq!(env.get("PORT").map(String::as_str), Some("5000"));
    alice
        .scale(&app, json!({ "web": 2 }))
        .expect(StatusCode::NO_CONTENT, "web=2");
    assert_eq!(
        world.containers(Some(&app), true),
        names(&app, 3, "web", 1..=2)
    );

    // run: the real exit code and output, in the release's environment, nothing left behind.
    let ran = alice
        .post(
            &format!("/v1/apps/{app}/run"),
            json!({ "command": "echo \"$GREETING from $DEIS_RELEASE\"; exit 3" }),
        )
        .expect(StatusCode::OK, "run");
    assert_eq!(ran.body, json!([3, "hello world from v3\n"]));
    assert_eq!(
        world.containers(Some(&app), false),
        names(&app, 3, "web", 1..=2)
    );

    // logs: the controller's lines and the containers' output, as one JSON string.
    let logs = alice
        .get(&format!("/v1/apps/{app}/logs"))
        .expect(StatusCode::OK, "logs")
        .body;
    let logs = logs.as_str().expect("logs are a JSON string");
    for expected in [
        "deis[api]: alice deployed c0ffee0".to_owned(),
        format!("deis[api]: {app}: alice scaled containers web=3"),
        "deis[api]: alice added GREETING".to_owned(),
        format!("{app}[web.1]: test-app listening on 5000"),
        format!("{app}[web.2]: test-app listening on 5000"),
    ] {
        assert!(
            logs.contains(&expected),
            "no {expected:?} in the logs:\n{logs}"
        );
    }

    // Down to zero, up again, then destroy: nothing of the app is left.
    alice
        .scale(&app, json!({ "web": 0 }))
        .expect(StatusCode::NO_CONTENT, "web=0");
    assert_eq!(world.containers(Some(&app), false), BTreeSet::new());
    assert_eq!(alice.containers(&app), BTreeMap::new());
    alice
        .scale(&app, json!({ "web": 2 }))
        .expect(StatusCode::NO_CONTENT, "web=2 again");
    assert_eq!(
        world.containers(Some(&app), true),
        names(&app, 3, "web", 1..=2),
        "numbers start again at 1 once a type has no container"
    );
    assert_eq!(
        world.release_images(Some(&app)),
        (2..=3)
            .map(|v| format!("deis-release/{}/{app}:v{v}", world.identity))
            .collect(),
        "each release has its image in the controller's namespace"
    );
    alice
        .delete(&format!("/v1/apps/{app}"))
        .expect(StatusCode::NO_CONTENT, "destroy");
    assert_eq!(world.containers(None, false), BTreeSet::new());
    assert_eq!(world.release_images(None), BTreeSet::new());
}

#[test]
fn an_image_without_procfile_runs_cmd_and_cancelling_an_account_removes_its_apps() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let admin = ctl.user("admin");
    let bob = ctl.user("bob");
    let (first, second, kept) = (world.app("cmd"), world.app("nosha"), world.app("kept"));
    bob.create_app(&first);
    bob.create_app(&second);
    admin.create_app(&kept);

    // The image's own command: cmd=1, really running, listed up.
    let build = bob
        .post(
            &format!("/v1/apps/{first}/builds"),
            json!({ "image": IMAGE }),
        )
        .expect(StatusCode::CREATED, "build");
    assert_eq!(build.release.as_deref(), Some("2"));
    assert_eq!(
        world.containers(Some(&first), true),
        names(&first, 2, "cmd", [1])
    );
    assert_eq!(
        bob.containers(&first),
        BTreeMap::from([(format!("{first}_v2.cmd.1"), "up".to_owned())])
    );
    // A procfile with `web` but no sha scales `cmd` too.
    bob.post(
        &format!("/v1/apps/{second}/builds"),
        json!({ "image": IMAGE, "procfile": { "web": WEB } }),
    )
    .expect(StatusCode::CREATED, "build without sha");
    assert_eq!(
        world.containers(Some(&second), true),
        names(&second, 2, "cmd", [1])
    );
    bob.scale(&second, json!({ "cmd": 2, "web": 1 }))
        .expect(StatusCode::NO_CONTENT, "cmd=2 web=1");
    let mut both = names(&second, 2, "cmd", 1..=2);
    both.extend(names(&second, 2, "web", [1]));
    assert_eq!(world.containers(Some(&second), true), both);
    admin
        .post(
            &format!("/v1/apps/{kept}/builds"),
            json!({ "image": IMAGE }),
        )
        .expect(StatusCode::CREATED, "admin's build");

    // Cancelling bob's account removes the containers of every app he owns, and only those.
    bob.delete("/v1/auth/cancel")
        .expect(StatusCode::NO_CONTENT, "cancel");
    assert_eq!(world.containers(None, false), names(&kept, 2, "cmd", [1]));
    assert_eq!(world.containers(None, true), names(&kept, 2, "cmd", [1]));
    assert_eq!(
        world.release_images(None),
        BTreeSet::from([format!("deis-release/{}/{kept}:v2", world.identity)]),
        "the release images of bob's apps are gone too"
    );
}

#[test]
fn a_tenant_can_neither_build_from_nor_reach_another_tenants_app() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let _admin = ctl.user("admin");
    let (bob, eve) = (ctl.user("bob"), ctl.user("eve"));
    let (secret_app, probe_app) = (world.app("secret"), world.app("probe"));
    bob.create_app(&secret_app);
    eve.create_app(&probe_app);

    // Bob deploys an image holding a secret, then drops its tag: only his release names it.
    let source = format!("{secret_app}-src:1");
    world.image(&source, "RUN echo s3cret > /secret.txt");
    bob.post(
        &format!("/v1/apps/{secret_app}/builds"),
        json!({ "image": source, "sha": SHA, "procfile": { "web": WEB } }),
    )
    .expect(StatusCode::CREATED, "bob's build");
    docker(&["rmi", &source]);
    let release = format!("deis-release/{}/{secret_app}:v2", world.identity);
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", &release]);
    let id = id.trim();
    let short = &id.trim_start_matches("sha256:")[..12];

    // Eve can name it neither by tag nor by id; nothing is recorded for her app.
    for image in [release.as_str(), id, short] {
        let refused = eve
            .post(
                &format!("/v1/apps/{probe_app}/builds"),
                json!({ "image": image }),
            )
            .expect(StatusCode::FORBIDDEN, image);
        let detail = refused.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("cannot access"), "{image}: {detail}");
    }
    let builds = eve
        .get(&format!("/v1/apps/{probe_app}/builds"))
        .expect(StatusCode::OK, "eve's builds")
        .body;
    assert_eq!(builds["count"], 0);
    // A missing image is her mistake, not an outage.
    eve.post(
        &format!("/v1/apps/{probe_app}/builds"),
        json!({ "image": format!("{probe_app}-nothing:1") }),
    )
    .expect(StatusCode::BAD_REQUEST, "missing image");

    // Her own app runs, but its one-off commands cannot reach bob's container; the host can.
    eve.post(
        &format!("/v1/apps/{probe_app}/builds"),
        json!({ "image": IMAGE, "sha": SHA, "procfile": { "web": WEB } }),
    )
    .expect(StatusCode::CREATED, "eve's build");
    let bob_web = format!("{secret_app}_v2.web.1");
    let network = format!("deis-apps-{}", world.identity);
    let address = docker(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        &container_ref(&bob_web),
    ]);
    let address = address.trim();
    let url = format!("http://{address}:5000/");
    let served = wait_for("bob's web to serve the host", CONVERGE, || {
        let body = reqwest::blocking::get(&url).ok()?.text().ok()?;
        (body.trim() == "ok").then_some(body)
    });
    assert_eq!(served.trim(), "ok");
    let ran = eve
        .post(
            &format!("/v1/apps/{probe_app}/run"),
            // The control: the same probe reaches a server of the run itself. (busybox
            // `nc`, not `wget`, whose `-T` crashes in the test image and reads as blocked.)
            json!({ "command": format!(
                "(PORT=5001 start >/dev/null 2>&1 &); sleep 1; \
                 for t in 127.0.0.1:5001 {address}:5000; do \
                   if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${{t%:*}} ${{t#*:}} \
                      2>/dev/null | grep -q ok; then echo reached $t; else echo unreachable $t; fi; \
                 done; cat /secret.txt 2>&1 || true"
            ) }),
        )
        .expect(StatusCode::OK, "eve's run");
    let output = ran.body[1].as_str().unwrap_or_default().to_owned();
    assert!(
        output.starts_with(&format!(
            "reached 127.0.0.1:5001\nunreachable {address}:5000\n"
        )),
        "{output}"
    );
    assert!(!output.contains("s3cret"), "{output}");
}

#[test]
fn a_config_change_of_ten_web_containers_always_keeps_one_running() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let carol = ctl.user("carol");
    let app = world.app("ten");
    carol.create_app(&app);
    carol.build_web(&app);
    carol
        .scale(&app, json!({ "web": 10 }))
        .expect(StatusCode::NO_CONTENT, "web=10");
    assert_eq!(
        world.containers(Some(&app), true),
        names(&app, 2, "web", 1..=10)
    );

    let done = AtomicBool::new(false);
    let web = [
        world.label(),
        format!("label=deis.app={app}"),
        "label=deis.type=web".to_owned(),
    ];
    let (samples, fewest, changed) = thread::scope(|s| {
        let watcher = s.spawn(|| {
            let (mut samples, mut fewest) = (0_usize, usize::MAX);
            let began = Instant::now();
            while !done.load(Ordering::Relaxed) && began.elapsed() < CONVERGE {
                fewest = fewest.min(engine_names(&web, true).len());
                samples += 1;
            }
            (samples, fewest)
        });
        let changed = carol.post(
            &format!("/v1/apps/{app}/config"),
            json!({ "values": { "WAVE": "1" } }),
        );
        done.store(true, Ordering::Relaxed);
        let (samples, fewest) = watcher.join().expect("watcher");
        (samples, fewest, changed)
    });
    let changed = changed.expect(StatusCode::CREATED, "config:set");
    assert_eq!(changed.release.as_deref(), Some("3"));
    eprintln!("{samples} samples of the engine, fewest running web containers {fewest}");
    assert!(samples >= 3, "only {samples} samples during the change");
    assert!(fewest > 0, "no web container was running at some point");
    assert_eq!(
        world.containers(Some(&app), false),
        names(&app, 3, "web", 1..=10)
    );
    assert_eq!(
        world.containers(Some(&app), true),
        names(&app, 3, "web", 1..=10)
    );
}

#[test]
fn a_controller_killed_mid_scale_converges_after_restart() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let dave = ctl.user("dave");
    let app = world.app("killscale");
    dave.create_app(&app);
    dave.build_web(&app);

    let ctl = crash_during(
        &world,
        ctl,
        &dave,
        &format!("/v1/apps/{app}/scale"),
        &json!({ "web": 8 }),
        || world.containers(Some(&app), false).len() > 1,
    );
    let dave = dave.of(&ctl);
    let found = converged(&world, &dave, &app);
    assert_eq!(found, names(&app, 2, "web", 1..=8));
    assert_one_container_per_process(&found);
    assert_eq!(world.containers(None, false), found, "no orphans");
}

#[test]
fn a_controller_killed_mid_deploy_converges_after_restart() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let erin = ctl.user("erin");
    let app = world.app("killdeploy");
    erin.create_app(&app);
    erin.build_web(&app);
    erin.scale(&app, json!({ "web": 4 }))
        .expect(StatusCode::NO_CONTENT, "web=4");

    let release_3 = [world.label(), "label=deis.release=3".to_owned()];
    let ctl = crash_during(
        &world,
        ctl,
        &erin,
        &format!("/v1/apps/{app}/config"),
        &json!({ "values": { "CRASH": "yes" } }),
        || !engine_names(&release_3, false).is_empty(),
    );
    let erin = erin.of(&ctl);
    let found = converged(&world, &erin, &app);
    assert_eq!(found, names(&app, 3, "web", 1..=4));
    assert_one_container_per_process(&found);
    assert_eq!(world.containers(None, false), found, "no orphans");
    let env = env_of(&format!("{app}_v3.web.4"));
    assert_eq!(env.get("CRASH").map(String::as_str), Some("yes"));
}

#[test]
fn reconcile_starts_a_container_a_crash_left_created_but_not_started() {
    let world = World::new();
    let mut ctl = Controller::start(&world, &[]);
    let frank = ctl.user("frank");
    let app = world.app("created");
    frank.create_app(&app);
    frank.build_web(&app);
    ctl.kill9();

    // What a controller killed between create and start leaves: our container, never started.
    let name = format!("{app}_v2.web.1");
    docker(&["rm", "-f", &name]);
    let labels = [
        format!("deis.controller={}", world.identity),
        format!("deis.app={app}"),
        "deis.release=2".to_owned(),
        "deis.type=web".to_owned(),
        "deis.num=1".to_owned(),
    ];
    let mut args = vec!["create", "--name", name.as_str()];
    for l in &labels {
        args.extend(["--label", l.as_str()]);
    }
    args.push(IMAGE);
    docker(&args);

    let ctl = Controller::start(&world, &[("DEIS_RECONCILE_INTERVAL", "1")]);
    let frank = frank.of(&ctl);
    assert_eq!(converged(&world, &frank, &app), names(&app, 2, "web", [1]));
}

#[test]
fn reconcile_removes_its_own_orphans_and_never_a_container_it_did_not_create() {
    let world = World::new();
    let ctl = Controller::start(&world, &[("DEIS_RECONCILE_INTERVAL", "1")]);
    let grace = ctl.user("grace");
    let app = world.app("foreign");
    grace.create_app(&app);
    grace.build_web(&app);

    // Strangers: no labels; another controller's; ours in all but the controller label.
    let plain = format!("{app}-plain");
    let theirs = format!("{app}_v2.web.9");
    let unlabelled = format!("{app}_v2.web.8");
    let other = unique("other-controller");
    world.foreign(&plain, &[]);
    world.foreign(
        &theirs,
        &web_v2(&[
            ("deis.controller", &other),
            ("deis.app", &app),
            ("deis.num", "9"),
        ]),
    );
    world.foreign(
        &unlabelled,
        &web_v2(&[("deis.app", &app), ("deis.num", "8")]),
    );
    // Ours but not in the database: a process too many, and one of an app that does not exist.
    let orphan = format!("{app}_v2.web.7");
    let ghost_app = unique("e2eghost");
    let ghost = format!("{ghost_app}_v2.web.1");
    let mine = ("deis.controller", world.identity.as_str());
    world.foreign(
        &orphan,
        &web_v2(&[mine, ("deis.app", &app), ("deis.num", "7")]),
    );
    world.foreign(
        &ghost,
        &web_v2(&[mine, ("deis.app", &ghost_app), ("deis.num", "1")]),
    );

    wait_for(
        "reconcile to remove this controller's orphans",
        CONVERGE,
        || {
            let left = world.containers(None, false);
            (!left.contains(&orphan) && !left.contains(&ghost)).then_some(())
        },
    );
    assert_eq!(world.containers(None, true), names(&app, 2, "web", [1]));
    // Every removal is logged by name.
    let output = ctl.output();
    for name in [&orphan, &ghost] {
        assert!(
            output
                .lines()
                .any(|l| l.contains("reconcile removes") && l.contains(name.as_str())),
            "no log line names {name}"
        );
    }
    let strangers = [plain, theirs, unlabelled];
    for name in &strangers {
        assert!(running(name), "{name} was touched by reconcile");
    }

    // Destroying the app they claim to belong to leaves them alone too.
    grace
        .delete(&format!("/v1/apps/{app}"))
        .expect(StatusCode::NO_CONTENT, "destroy");
    assert_eq!(world.containers(None, false), BTreeSet::new());
    for name in &strangers {
        assert!(running(name), "{name} was removed with the app");
    }
}

/// The identity a controller started with, from its log.
fn logged_identity(ctl: &Controller) -> String {
    let output = ctl.output();
    output
        .lines()
        .find(|l| l.contains("scheduler identity"))
        .and_then(|l| l.split("identity=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no identity logged:\n{output}"))
}

#[test]
fn a_second_installation_with_default_settings_leaves_the_first_ones_containers_running() {
    // Empty identities: each controller uses the one its database was given.
    let mut first = World::new();
    let a = Controller::start(&first, &[("DEIS_SCHEDULER_IDENTITY", "")]);
    first.identity = logged_identity(&a);
    let user = a.user("first");
    let app = first.app("default");
    user.create_app(&app);
    user.build_web(&app);
    let before = converged(&first, &user, &app);
    assert_eq!(before.len(), 1);

    let mut second = World::new();
    let b = Controller::start(
        &second,
        &[
            ("DEIS_SCHEDULER_IDENTITY", ""),
            ("DEIS_RECONCILE_INTERVAL", "1"),
            ("DEIS_LOG", "deis_controller=debug,info"),
        ],
    );
    second.identity = logged_identity(&b);
    assert_ne!(first.identity, second.identity);
    wait_for(
        "three reconcile passes of the second installation",
        CONVERGE,
        || {
            let passes = b
                .output()
                .matches("reconciled: engine matches the database")
                .count();
            (passes >= 3).then_some(())
        },
    );
    assert_eq!(first.containers(Some(&app), true), before);
    assert!(second.containers(None, false).is_empty());
    drop(b);
    drop(second);
    user.delete(&format!("/v1/apps/{app}"))
        .expect(StatusCode::NO_CONTENT, "destroy");
}

#[test]
fn an_unreachable_engine_answers_503_within_seconds_and_writes_nothing() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let heidi = ctl.user("heidi");
    let app = world.app("down");
    heidi.create_app(&app);
    heidi.build_web(&app);
    heidi
        .post(
            &format!("/v1/apps/{app}/config"),
            json!({ "values": { "KEPT": "yes" } }),
        )
        .expect(StatusCode::CREATED, "config:set");
    let snapshot = |user: &User| {
        let get = |path: String| user.get(&path).expect(StatusCode::OK, &path).body;
        let releases = get(format!("/v1/apps/{app}/releases"));
        let versions: Vec<Value> = releases["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["version"].clone())
            .collect();
        let structure = get(format!("/v1/apps/{app}"))["structure"].clone();
        let config = get(format!("/v1/apps/{app}/config"))["uuid"].clone();
        let builds = get(format!("/v1/apps/{app}/builds"))["count"].clone();
        let containers: BTreeSet<String> = user.containers(&app).into_keys().collect();
        (versions, structure, config, builds, containers)
    };
    let before = snapshot(&heidi);
    assert_eq!(before.0, vec![json!(3), json!(2), json!(1)]);
    drop(ctl);

    // No socket at all, and an engine address that accepts connections but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a silent listener");
    let silent_host = format!("tcp://{}", silent.local_addr().expect("address"));
    for host in ["unix:///nonexistent.sock", silent_host.as_str()] {
        let ctl = Controller::start(
            &world,
            &[("DOCKER_HOST", host), ("DEIS_RECONCILE_INTERVAL", "1")],
        );
        let heidi = heidi.of(&ctl);
        let attempts = [
            ("scale", json!({ "web": 3 })),
            ("config", json!({ "values": { "LOST": "yes" } })),
            (
                "builds",
                json!({ "image": IMAGE, "sha": SHA, "procfile": { "web": WEB } }),
            ),
            ("releases/rollback", json!({ "version": 2 })),
            ("run", json!({ "command": "true" })),
        ];
        for (path, body) in attempts {
            let began = Instant::now();
            let answer = heidi.post(&format!("/v1/apps/{app}/{path}"), body);
            let took = began.elapsed();
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{host} {path}: {}",
                answer.body
            );
            let detail = answer.body["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains("docker engine"),
                "{host} {path}: {}",
                answer.body
            );
            assert!(took < Duration::from_secs(5), "{host} {path} took {took:?}");
            eprintln!("{host} {path}: 503 in {took:?}: {detail}");
        }
        assert_eq!(snapshot(&heidi), before, "{host}: nothing was written");
    }
    assert_eq!(
        world.containers(Some(&app), true),
        names(&app, 3, "web", [1])
    );
}

// ---- the router ----------------------------------------------------------------------------------

/// One request through the router for `host`: status and body, or the transport error.
fn via_router(ctl: &Controller, host: &str, path: &str) -> Result<(StatusCode, String), String> {
    let res = ctl
        .http
        .get(format!("{}{path}", ctl.router))
        .header("Host", host)
        .timeout(Duration::from_secs(10))
        .send()
        .map_err(|e| e.to_string())?;
    let status = res.status();
    Ok((status, res.text().map_err(|e| e.to_string())?))
}

/// Polls the router until `host` answers `path` with `status`; returns the body.
fn router_answers(ctl: &Controller, host: &str, path: &str, status: StatusCode) -> String {
    wait_for(
        &format!("{host}{path} to answer {status}"),
        CONVERGE,
        || match via_router(ctl, host, path) {
            Ok((s, body)) if s == status => Some(body),
            _ => None,
        },
    )
}

#[test]
fn the_router_reaches_an_app_by_host_and_domain_across_its_containers() {
    let world = World::new();
    let ctl = Controller::start(&world, &[]);
    let erin = ctl.user("erin");
    let app = world.app("routed");
    erin.create_app(&app);
    erin.build_web(&app);
    let host = format!("{app}.localhost");
    let shown = erin.get(&format!("/v1/apps/{app}")).body;
    let router_port = ctl.router.rsplit(':').next().expect("port");
    assert_eq!(shown["url"], format!("{host}:{router_port}"));

    // The first deploy answers at once through the router.
    let (status, body) = via_router(&ctl, &host, "/").expect("router answers");
    assert_eq!((status, body.trim()), (StatusCode::OK, "ok"));

    erin.scale(&app, json!({ "web": 3 }))
        .expect(StatusCode::NO_CONTENT, "web=3");
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let (status, body) = via_router(&ctl, &host, "/whoami").expect("router answers");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains(&format!("app={app} release=v2")), "{body}");
        seen.insert(body);
    }
    assert_eq!(
        seen.len(),
        3,
        "30 requests reach all 3 containers: {seen:?}"
    );

    let domain = format!("{app}.example.test");
    erin.post(
        &format!("/v1/apps/{app}/domains"),
        json!({ "domain": domain }),
    )
    .expect(StatusCode::CREATED, "domains:add");
    let body = router_answers(&ctl, &format!("{domain}:80"), "/whoami", StatusCode::OK);
    assert!(body.contains(&format!("app={app}")), "{body}");
    let (status, _) = via_router(&ctl, "nobody.example.test", "/").expect("router answers");
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown host");

    erin.delete(&format!("/v1/apps/{app}/domains/{domain}"))
        .expect(StatusCode::NO_CONTENT, "domains:remove");
    router_answers(&ctl, &domain, "/", StatusCode::NOT_FOUND);
    erin.delete(&format!("/v1/apps/{app}"))
        .expect(StatusCode::NO_CONTENT, "destroy");
    router_answers(&ctl, &host, "/", StatusCode::NOT_FOUND);
}

#[test]
fn clients_sending_without_pause_see_no_failure_through_config_changes_and_a_rollback() {
    let world = World::new();
    let ctl = Controller::start(&world, &[("DEIS_DRAIN_GRACE", "5")]);
    let fred = ctl.user("fred");
    let app = world.app("steady");
    fred.create_app(&app);
    fred.build_web(&app);
    fred.scale(&app, json!({ "web": 3 }))
        .expect(StatusCode::NO_CONTENT, "web=3");
    let host = format!("{app}.localhost");
    router_answers(&ctl, &host, "/", StatusCode::OK);

    let done = AtomicBool::new(false);
    let (outcomes, last) = thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let (mut ok, mut failures) = (0_usize, Vec::new());
                    while !done.load(Ordering::Relaxed) {
                        match via_router(&ctl, &host, "/whoami") {
                            Ok((StatusCode::OK, _)) => ok += 1,
                            Ok((status, body)) => failures.push(format!("{status}: {body}")),
                            Err(e) => failures.push(e),
                        }
                    }
                    (ok, failures)
                })
            })
            .collect();
        for greeting in ["one", "two", "three"] {
            fred.post(
                &format!("/v1/apps/{app}/config"),
                json!({ "values": { "GREETING": greeting } }),
            )
            .expect(StatusCode::CREATED, "config:set");
        }
        fred.post(&format!("/v1/apps/{app}/releases/rollback"), json!({}))
            .expect(StatusCode::CREATED, "rollback");
        let last = router_answers(&ctl, &host, "/whoami", StatusCode::OK);
        done.store(true, Ordering::Relaxed);
        let outcomes: Vec<(usize, Vec<String>)> = clients
            .into_iter()
            .map(|c| c.join().expect("client"))
            .collect();
        (outcomes, last)
    });
    let served: usize = outcomes.iter().map(|(ok, _)| ok).sum();
    let failures: Vec<&String> = outcomes.iter().flat_map(|(_, f)| f).collect();
    eprintln!("{served} requests served during 4 deploys");
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(served > 40, "only {served} requests were served");
    assert!(
        last.contains("release=v6 ") && last.contains("greeting=two"),
        "the rollback to v4's config serves: {last}"
    );
}

#[test]
fn a_release_that_never_listens_is_refused_while_the_old_one_keeps_answering() {
    let world = World::new();
    let ctl = Controller::start(&world, &[("DEIS_HEALTH_TIMEOUT", "4")]);
    let gina = ctl.user("gina");
    let app = world.app("deaf");
    gina.create_app(&app);
    gina.build_web(&app);
    let host = format!("{app}.localhost");
    router_answers(&ctl, &host, "/", StatusCode::OK);

    let refused = gina.post(
        &format!("/v1/apps/{app}/builds"),
        json!({ "image": IMAGE, "sha": SHA, "procfile": { "web": "echo deaf on purpose; sleep 600" } }),
    );
    let refused = refused.expect(StatusCode::BAD_REQUEST, "a build that never listens");
    let detail = refused.body["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("web.1 did not answer HTTP on port 5000"),
        "{detail}"
    );
    assert!(
        detail.contains("deaf on purpose"),
        "quotes its output: {detail}"
    );

    let releases = gina.get(&format!("/v1/apps/{app}/releases")).body;
    assert_eq!(releases["count"], 2, "no release recorded");
    assert_eq!(
        world.containers(Some(&app), false),
        names(&app, 2, "web", [1]),
        "the new container is gone, the old one stays"
    );
    let (status, body) = via_router(&ctl, &host, "/whoami").expect("router answers");
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("release=v2"), "{body}");
}

#[test]
fn a_container_removed_behind_the_controllers_back_is_back_within_30_seconds() {
    let world = World::new();
    let ctl = Controller::start(&world, &[("DEIS_RECONCILE_INTERVAL", "1")]);
    let hana = ctl.user("hana");
    let app = world.app("heal");
    hana.create_app(&app);
    hana.build_web(&app);
    hana.scale(&app, json!({ "web": 3 }))
        .expect(StatusCode::NO_CONTENT, "web=3");
    let host = format!("{app}.localhost");
    router_answers(&ctl, &host, "/", StatusCode::OK);

    let victim = docker(&[
        "ps",
        "-q",
        "--filter",
        &world.label(),
        "--filter",
        &format!("label=deis.app={app}"),
        "--filter",
        "label=deis.num=2",
    ]);
    docker(&["rm", "-f", victim.trim()]);
    let began = Instant::now();
    wait_for("every container up again", Duration::from_secs(30), || {
        let listed = hana.containers(&app);
        let running = world.containers(Some(&app), true);
        (listed.len() == 3
            && listed.values().all(|s| s == "up")
            && running == names(&app, 2, "web", 1..=3))
        .then_some(())
    });
    wait_for(
        "the router to reach all 3 containers again",
        Duration::from_secs(30),
        || {
            let seen: BTreeSet<String> = (0..30)
                .filter_map(|_| match via_router(&ctl, &host, "/whoami") {
                    Ok((StatusCode::OK, body)) => Some(body),
                    _ => None,
                })
                .collect();
            (seen.len() == 3).then_some(())
        },
    );
    eprintln!("back in {:?}", began.elapsed());

    hana.delete(&format!("/v1/apps/{app}"))
        .expect(StatusCode::NO_CONTENT, "destroy");
    assert_eq!(world.containers(Some(&app), false), BTreeSet::new());
    if on_swarm() {
        let services = docker(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label=deis.app={app}"),
        ]);
        assert_eq!(
            services.trim(),
            "",
            "destroying the app removes its services"
        );
    }
}

// ---- HTTPS with a stored certificate ---------------------------------------------------------

/// A test CA and the certificate it signs for `name` (also its common name): the chain PEM,
/// the key PEM and the CA's DER for the client's roots.
fn signed_certificate(name: &str) -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer =
        CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    let leaf = params.signed_by(&key, &issuer).expect("signed");
    (
        format!("{}{}", leaf.pem(), issuer.pem()),
        key.serialize_pem(),
        issuer.der().clone(),
    )
}

/// `GET path` over TLS to `addr` with `name` as SNI and Host: status line and body, or the
/// handshake's or transport's error.
fn over_tls(
    addr: &str,
    name: &str,
    path: &str,
    root: &rustls::pki_types::CertificateDer<'static>,
) -> Result<String, String> {
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let server =
        rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let conn =
        rustls::ClientConnection::new(Arc::new(config), server).map_err(|e| e.to_string())?;
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    match tls.read_to_string(&mut answer) {
        Ok(_) => Ok(answer),
        // The router closes without close_notify once the body is sent; what was read counts.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => Ok(answer),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn a_certificate_stored_through_the_api_serves_its_domain_over_https() {
    let world = World::new();
    let tls_port = free_port();
    let tls_addr = format!("127.0.0.1:{tls_port}");
    let ctl = Controller::start(&world, &[("DEIS_ROUTER_TLS_BIND", tls_addr.as_str())]);
    let hana = ctl.user("hana");
    let app = world.app("secure");
    hana.create_app(&app);
    hana.build_web(&app);
    let domain = format!("{app}.example.test");
    hana.post(
        &format!("/v1/apps/{app}/domains"),
        json!({ "domain": domain }),
    )
    .expect(StatusCode::CREATED, "domains:add");
    let (chain, key, root) = signed_certificate(&domain);

    // Without a certificate for the name, no handshake succeeds.
    assert!(
        over_tls(&tls_addr, &domain, "/", &root).is_err(),
        "a name without a certificate"
    );

    // Certificates are API v1.7, which the 1.13.4 client selects by its User-Agent.
    let v17 = |method: reqwest::Method, path: &str| {
        hana.request(method, path)
            .header("User-Agent", "Deis Client v1.13.4")
    };
    let added = Answer::read(
        v17(reqwest::Method::POST, "/v1/certs")
            .json(&json!({ "certificate": chain, "key": key }))
            .send()
            .expect("certs:add"),
    )
    .expect(StatusCode::CREATED, "certs:add");
    assert_eq!(added.body["common_name"], domain.as_str());
    assert!(
        !added.body.to_string().contains("PRIVATE KEY"),
        "the key is never returned: {}",
        added.body
    );
    let answer = wait_for("HTTPS to answer", CONVERGE, || {
        over_tls(&tls_addr, &domain, "/whoami", &root).ok()
    });
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("app={app} release=v2")),
        "{answer}"
    );

    Answer::read(
        v17(reqwest::Method::DELETE, &format!("/v1/certs/{domain}"))
            .send()
            .expect("certs:remove"),
    )
    .expect(StatusCode::NO_CONTENT, "certs:remove");
    wait_for("the certificate to be withdrawn", CONVERGE, || {
        over_tls(&tls_addr, &domain, "/", &root)
            .is_err()
            .then_some(())
    });
}
