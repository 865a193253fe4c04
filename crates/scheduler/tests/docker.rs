//! `DockerScheduler` against the real engine, with the `deis/test-app:latest` image that
//! `cargo xtask test-image` builds (these tests build it themselves when it is missing).
//!
//! Every test works on its own app name and controller identity, so tests run in parallel
//! and see only their own containers; a guard removes those containers and the images a
//! test tagged, also when the test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::RestartPolicyNameEnum;
use bollard::query_parameters::{InspectContainerOptions, InspectNetworkOptions};
use deis_domain::{
    ContainerSpec, ContainerState, RunEvent, RunInput, RunSpec, Scheduler, SchedulerError, TagKind,
    TtySize,
};
use deis_scheduler::{DockerScheduler, DockerSettings};

const TEST_IMAGE: &str = "deis/test-app:latest";

/// Builds the test image once per test binary if the engine does not have it yet, through
/// the same code path as CI: `cargo xtask test-image` (in a target directory of its own,
/// since the running `cargo test` holds the workspace's).
fn ensure_test_image() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let present = Command::new("docker")
            .args(["image", "inspect", TEST_IMAGE])
            .output()
            .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
        if present.status.success() {
            return Ok(());
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args(["run", "--quiet", "--package", "xtask", "--target-dir"])
            .arg(root.join("target/xtask-for-tests"))
            .args(["--", "test-image"])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{TEST_IMAGE} is missing and `cargo xtask test-image` failed ({status})"
            ))
        }
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
}

/// A name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos:x}{n}", std::process::id())
}

/// One test's app: its scheduler, spec builders, and cleanup on drop.
struct TestApp {
    app: String,
    identity: String,
    scheduler: DockerScheduler,
    /// Image tags to remove at the end.
    images: Vec<String>,
    /// Containers made behind the scheduler's back, to remove at the end.
    foreign: Vec<String>,
    /// Networks made behind the scheduler's back, to remove at the end.
    foreign_networks: Vec<String>,
}

impl TestApp {
    fn new(prefix: &str) -> Self {
        Self::with(prefix, DockerSettings::default())
    }

    /// A test app whose scheduler has these settings (and the test's identity and timeouts).
    fn with(prefix: &str, settings: DockerSettings) -> Self {
        ensure_test_image();
        let app = unique(prefix);
        let identity = unique("deis-test");
        let scheduler = DockerScheduler::new(DockerSettings {
            identity: identity.clone(),
            start_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(1),
            ..settings
        });
        Self {
            app,
            identity,
            scheduler,
            images: Vec::new(),
            foreign: Vec::new(),
            foreign_networks: Vec::new(),
        }
    }

    /// Another scheduler with this test's identity and settings, as a replica would have.
    fn replica(&self) -> DockerScheduler {
        DockerScheduler::new(DockerSettings {
            identity: self.identity.clone(),
            start_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(1),
            ..DockerSettings::default()
        })
    }

    /// Publishes the test image as this app's release `version` and returns the reference.
    async fn release(&mut self, version: i64) -> String {
        let app = self.app.clone();
        self.release_of(&app, version).await
    }

    /// Publishes the test image as `app`'s release `version` and returns the reference.
    async fn release_of(&mut self, app: &str, version: i64) -> String {
        self.scheduler
            .publish(TEST_IMAGE, app, version)
            .await
            .expect("publish the test image");
        let image = self.scheduler.release_image(app, version);
        self.images.push(image.clone());
        image
    }

    fn name(&self, version: i64, proc_type: &str, num: i64) -> String {
        format!("{}_v{version}.{proc_type}.{num}", self.app)
    }

    fn spec(&self, image: &str, proc_type: &str, num: i64, command: Option<&str>) -> ContainerSpec {
        spec_for(&self.app, image, proc_type, num, command)
    }

    fn run_spec(&self, image: &str, command: &str, timeout: Duration) -> RunSpec {
        RunSpec {
            name: self.name(1, "run", 1),
            app: self.app.clone(),
            version: 1,
            num: 1,
            image: image.to_owned(),
            command: command.to_owned(),
            env: BTreeMap::from([("DEIS_APP".to_owned(), self.app.clone())]),
            memory: None,
            cpu_shares: None,
            timeout,
            output_limit: 1024 * 1024,
        }
    }

    async fn states(&self) -> BTreeMap<String, ContainerState> {
        self.scheduler
            .list(Some(&self.app))
            .await
            .expect("list")
            .into_iter()
            .map(|o| (o.name, o.state))
            .collect()
    }
}

/// A container of `app`'s release 1.
fn spec_for(
    app: &str,
    image: &str,
    proc_type: &str,
    num: i64,
    command: Option<&str>,
) -> ContainerSpec {
    let version = 1;
    let mut env = BTreeMap::from([
        ("DEIS_APP".to_owned(), app.to_owned()),
        ("DEIS_RELEASE".to_owned(), format!("v{version}")),
    ]);
    if proc_type == "web" {
        env.insert("PORT".to_owned(), "5000".to_owned());
    }
    ContainerSpec {
        name: format!("{app}_v{version}.{proc_type}.{num}"),
        app: app.to_owned(),
        version,
        proc_type: proc_type.to_owned(),
        num,
        image: image.to_owned(),
        command: command.map(str::to_owned),
        env,
        memory: Some("64M".to_owned()),
        cpu_shares: Some(256),
        tags: BTreeMap::new(),
    }
}

/// The output of a docker CLI command, empty when it failed.
fn docker_out(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let label = format!("label=deis.controller={}", self.identity);
        let ours = docker_out(&["ps", "--all", "--quiet", "--filter", &label]);
        let containers: Vec<&str> = ours
            .split_whitespace()
            .chain(self.foreign.iter().map(String::as_str))
            .collect();
        if !containers.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "--force"])
                .args(&containers)
                .output();
        }
        let reference = format!("reference=deis-release/{}/*", self.identity);
        let format = "{{.Repository}}:{{.Tag}}";
        let published = docker_out(&["images", "--filter", &reference, "--format", format]);
        let images: Vec<&str> = published
            .split_whitespace()
            .chain(self.images.iter().map(String::as_str))
            .collect();
        if !images.is_empty() {
            let _ = Command::new("docker").arg("rmi").args(&images).output();
        }
        let networks = docker_out(&["network", "ls", "--quiet", "--filter", &label]);
        let networks: Vec<&str> = networks
            .split_whitespace()
            .chain(self.foreign_networks.iter().map(String::as_str))
            .collect();
        if !networks.is_empty() {
            let _ = Command::new("docker")
                .args(["network", "rm"])
                .args(&networks)
                .output();
        }
    }
}

/// A client of our own for checking what the scheduler did.
async fn engine() -> Docker {
    Docker::connect_with_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("docker engine answers")
}

async fn container_id(docker: &Docker, name: &str) -> String {
    docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .expect("inspect")
        .id
        .expect("container id")
}

fn failed_with(result: Result<impl std::fmt::Debug, SchedulerError>, needle: &str) {
    match result {
        Err(SchedulerError::Failed(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("expected Failed mentioning {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn publish_tags_the_source_and_refuses_a_missing_one() {
    let mut t = TestApp::new("publish");
    let image = t.release(1).await;
    assert_eq!(
        image,
        format!("deis-release/{}/{}:v1", t.identity, t.app),
        "release images live in the controller's namespace"
    );
    let docker = engine().await;
    let tagged = docker.inspect_image(&image).await.expect("tagged image");
    let source = docker
        .inspect_image(TEST_IMAGE)
        .await
        .expect("source image");
    assert_eq!(tagged.id, source.id);

    let ghost = unique("ghost");
    let result = t.scheduler.publish(&format!("{ghost}:v1"), &t.app, 2).await;
    failed_with(result, &format!("image {ghost}:v1 not found"));
}

#[tokio::test]
async fn start_runs_every_container_with_labels_env_and_limits() {
    let mut t = TestApp::new("start");
    let image = t.release(1).await;
    let specs = vec![
        t.spec(&image, "web", 1, None),
        t.spec(&image, "web", 2, None),
        t.spec(
            &image,
            "worker",
            1,
            Some("echo worker of $DEIS_APP; exec sleep 1000"),
        ),
    ];
    let began = Instant::now();
    t.scheduler.start(&specs).await.expect("start");
    eprintln!("started 3 containers in {:?}", began.elapsed());

    let observed = t.scheduler.list(Some(&t.app)).await.expect("list");
    let seen: Vec<(&str, i64, ContainerState)> = observed
        .iter()
        .map(|o| (o.proc_type.as_str(), o.num, o.state))
        .collect();
    assert_eq!(
        seen,
        [
            ("web", 1, ContainerState::Up),
            ("web", 2, ContainerState::Up),
            ("worker", 1, ContainerState::Up)
        ]
    );
    assert!(observed.iter().all(|o| o.app == t.app && o.version == 1));

    let docker = engine().await;
    let web = docker
        .inspect_container(&specs[0].name, None::<InspectContainerOptions>)
        .await
        .expect("inspect web.1");
    let config = web.config.expect("config");
    let env = config.env.expect("env");
    assert!(env.contains(&format!("DEIS_APP={}", t.app)), "{env:?}");
    assert!(env.contains(&"PORT=5000".to_owned()), "{env:?}");
    let labels = config.labels.expect("labels");
    assert_eq!(labels["deis.controller"], t.identity);
    assert_eq!(labels["deis.app"], t.app);
    assert_eq!(labels["deis.release"], "1");
    assert_eq!(labels["deis.type"], "web");
    assert_eq!(labels["deis.num"], "1");
    let host = web.host_config.expect("host config");
    assert_eq!(host.memory, Some(64 * 1024 * 1024));
    assert_eq!(host.cpu_shares, Some(256));
    assert_eq!(
        host.restart_policy.and_then(|p| p.name),
        Some(RestartPolicyNameEnum::UNLESS_STOPPED)
    );
    let worker = docker
        .inspect_container(&specs[2].name, None::<InspectContainerOptions>)
        .await
        .expect("inspect worker.1");
    let cmd = worker.config.and_then(|c| c.cmd).expect("cmd");
    assert_eq!(cmd[..2], ["sh".to_owned(), "-c".to_owned()]);

    // The default command got $PORT, the procfile line ran through the shell.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = t.scheduler.logs(&t.app, 100).await.expect("logs");
        let has =
            |source: &str, text: &str| lines.iter().any(|l| l.source == source && l.text == text);
        if has("web.1", "test-app listening on 5000")
            && has("worker.1", &format!("worker of {}", t.app))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected output missing: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn start_is_idempotent_and_fills_in_what_is_missing() {
    let mut t = TestApp::new("again");
    let image = t.release(1).await;
    let specs = vec![
        t.spec(&image, "web", 1, None),
        t.spec(&image, "web", 2, None),
    ];
    t.scheduler.start(&specs).await.expect("first start");
    let docker = engine().await;
    let first = container_id(&docker, &specs[0].name).await;
    let second = container_id(&docker, &specs[1].name).await;

    t.scheduler.start(&specs).await.expect("start again");
    assert_eq!(
        container_id(&docker, &specs[0].name).await,
        first,
        "running one reused"
    );
    assert_eq!(
        container_id(&docker, &specs[1].name).await,
        second,
        "running one reused"
    );

    // A reconcile after web.2 vanished, and after web.1 stopped: both come back.
    t.scheduler
        .remove(&[specs[1].name.clone()])
        .await
        .expect("remove web.2");
    let stopped = Command::new("docker")
        .args(["stop", "--time", "1", &specs[0].name])
        .output()
        .expect("docker stop");
    assert!(stopped.status.success());
    assert_eq!(t.states().await[&specs[0].name], ContainerState::Down);
    t.scheduler
        .start(&specs)
        .await
        .expect("start the missing ones");
    let states = t.states().await;
    assert_eq!(states.len(), 2);
    assert!(
        states.values().all(|s| *s == ContainerState::Up),
        "{states:?}"
    );
    assert_ne!(
        container_id(&docker, &specs[0].name).await,
        first,
        "stale one replaced"
    );
}

#[tokio::test]
async fn a_name_held_by_a_container_we_do_not_own_is_left_alone() {
    let mut t = TestApp::new("foreign");
    let image = t.release(1).await;
    let spec = t.spec(&image, "web", 1, None);
    let made = Command::new("docker")
        .args(["create", "--name", &spec.name, TEST_IMAGE])
        .output()
        .expect("docker create");
    assert!(made.status.success(), "{made:?}");
    t.foreign.push(spec.name.clone());

    failed_with(
        t.scheduler.start(std::slice::from_ref(&spec)).await,
        "does not own",
    );
    let docker = engine().await;
    let still = docker
        .inspect_container(&spec.name, None::<InspectContainerOptions>)
        .await
        .expect("the foreign container still exists");
    assert!(
        still
            .config
            .and_then(|c| c.labels)
            .unwrap_or_default()
            .is_empty()
    );

    let run = t.run_spec(&image, "true", Duration::from_secs(5));
    let made = Command::new("docker")
        .args(["create", "--name", &run.name, TEST_IMAGE])
        .output()
        .expect("docker create");
    assert!(made.status.success(), "{made:?}");
    t.foreign.push(run.name.clone());
    failed_with(t.scheduler.run(&run).await, "does not own");
    assert!(
        docker
            .inspect_container(&run.name, None::<InspectContainerOptions>)
            .await
            .is_ok(),
        "the foreign run-named container still exists"
    );
}

#[tokio::test]
async fn start_is_all_or_nothing() {
    let mut t = TestApp::new("allornothing");
    let image = t.release(1).await;

    let ghost = format!("{}:v404", unique("ghost"));
    let specs = vec![
        t.spec(&image, "web", 1, None),
        t.spec(&image, "web", 2, None),
        t.spec(&ghost, "web", 3, None),
    ];
    failed_with(
        t.scheduler.start(&specs).await,
        &format!("image {ghost} not found"),
    );
    assert_eq!(
        t.states().await,
        BTreeMap::new(),
        "the good ones were removed"
    );

    // A process that dies right away is a failure too, and its last words are quoted.
    let specs = vec![
        t.spec(&image, "web", 1, None),
        t.spec(&image, "worker", 1, Some("echo cannot connect >&2; exit 3")),
    ];
    let began = Instant::now();
    failed_with(t.scheduler.start(&specs).await, "exited with code 3");
    eprintln!(
        "a crashing start failed and rolled back in {:?}",
        began.elapsed()
    );
    assert_eq!(t.states().await, BTreeMap::new());

    let mut bad = t.spec(&image, "web", 1, None);
    bad.memory = Some("plenty".to_owned());
    failed_with(t.scheduler.start(&[bad]).await, "invalid memory limit");
    let web = t.spec(&image, "web", 1, None);
    failed_with(t.scheduler.start(&[web.clone(), web]).await, "listed twice");
    assert_eq!(t.states().await, BTreeMap::new());
}

#[tokio::test]
async fn remove_is_idempotent() {
    let mut t = TestApp::new("remove");
    let image = t.release(1).await;
    let specs = vec![
        t.spec(&image, "web", 1, None),
        t.spec(&image, "worker", 1, Some("exec sleep 1000")),
    ];
    t.scheduler.start(&specs).await.expect("start");
    let mut names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    names.push(t.name(1, "web", 99));

    let began = Instant::now();
    t.scheduler.remove(&names).await.expect("remove");
    eprintln!("removed 2 containers in {:?}", began.elapsed());
    assert_eq!(t.states().await, BTreeMap::new());
    t.scheduler.remove(&names).await.expect("remove again");
    t.scheduler.remove(&[]).await.expect("remove nothing");
}

#[tokio::test]
async fn run_returns_the_exit_code_and_output() {
    let mut t = TestApp::new("run");
    let image = t.release(1).await;
    let out = t
        .scheduler
        .run(&t.run_spec(&image, "echo hi; exit 3", Duration::from_secs(30)))
        .await
        .expect("run");
    assert_eq!((out.exit_code, out.output.as_str()), (3, "hi\n"));

    let out = t
        .scheduler
        .run(&t.run_spec(
            &image,
            "echo out; echo err >&2; echo $DEIS_APP",
            Duration::from_secs(30),
        ))
        .await
        .expect("run");
    assert_eq!(out.exit_code, 0);
    // Both streams are captured; the engine reads them separately, so lines written to
    // stdout and stderr in quick succession may swap places.
    let mut lines: Vec<&str> = out.output.lines().collect();
    lines.sort_unstable();
    let mut expected = vec!["err", "out", t.app.as_str()];
    expected.sort_unstable();
    assert_eq!(lines, expected, "{:?}", out.output);
    assert_eq!(
        t.states().await,
        BTreeMap::new(),
        "run containers are removed"
    );

    let ghost = format!("{}:v1", unique("ghost"));
    failed_with(
        t.scheduler
            .run(&t.run_spec(&ghost, "true", Duration::from_secs(5)))
            .await,
        &format!("image {ghost} not found"),
    );
}

#[tokio::test]
async fn run_is_killed_at_its_time_limit() {
    let mut t = TestApp::new("timeout");
    let image = t.release(1).await;
    let began = Instant::now();
    let out = t
        .scheduler
        .run(&t.run_spec(&image, "echo started; sleep 60", Duration::from_secs(1)))
        .await
        .expect("run");
    let took = began.elapsed();
    assert_eq!(out.exit_code, 124);
    assert!(out.output.starts_with("started\n"), "{:?}", out.output);
    assert!(
        out.output.contains("killed after the time limit of 1s"),
        "{:?}",
        out.output
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(
        t.states().await,
        BTreeMap::new(),
        "the killed container is removed"
    );
}

/// Collects an attached run's events until its exit code (at most 30 s).
async fn attached_events(mut events: deis_domain::RunEvents) -> (String, String, i64) {
    use futures_util::StreamExt;
    let (mut out, mut err) = (String::new(), String::new());
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("an event within 30 s")
            .expect("the run ends with an exit code")
            .expect("no engine error");
        match event {
            RunEvent::Stdout(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
            RunEvent::Stderr(bytes) => err.push_str(&String::from_utf8_lossy(&bytes)),
            RunEvent::Exit(code) => return (out, err, code),
        }
    }
}

#[tokio::test]
async fn an_attached_run_takes_input_keeps_its_time_limit_and_is_removed() {
    use futures_util::StreamExt;
    let mut t = TestApp::new("attach");
    let image = t.release(1).await;
    let input =
        futures_util::stream::iter([RunInput::Stdin(b"hello\n".to_vec()), RunInput::CloseStdin])
            .boxed();
    let spec = t.run_spec(
        &image,
        "read x; echo got-$x; echo err >&2; exit 7",
        Duration::from_secs(30),
    );
    let events = t
        .scheduler
        .run_attached(&spec, None, input)
        .await
        .expect("attached");
    assert_eq!(
        attached_events(events).await,
        ("got-hello\n".into(), "err\n".into(), 7)
    );
    assert_eq!(t.states().await, BTreeMap::new(), "the run is removed");

    // A terminal, and the time limit: killed, told, 124.
    let input = futures_util::stream::pending().boxed();
    let spec = t.run_spec(&image, "tty; sleep 60", Duration::from_secs(2));
    let size = TtySize {
        cols: 100,
        rows: 30,
    };
    let events = t
        .scheduler
        .run_attached(&spec, Some(size), input)
        .await
        .expect("attached");
    let (out, err, code) = attached_events(events).await;
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert!(err.contains("killed after the time limit of 2s"), "{err:?}");
    assert_eq!(code, 124);
    assert_eq!(
        t.states().await,
        BTreeMap::new(),
        "the killed run is removed"
    );

    // Dropped before it ends: killed and removed.
    let input = futures_util::stream::pending().boxed();
    let spec = t.run_spec(&image, "sleep 60", Duration::from_secs(60));
    let events = t
        .scheduler
        .run_attached(&spec, None, input)
        .await
        .expect("attached");
    assert_eq!(t.states().await.len(), 1, "the run is going");
    drop(events);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !t.states().await.is_empty() {
        assert!(Instant::now() < deadline, "the dropped run is still there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn logs_merge_the_app_processes_oldest_first() {
    let mut t = TestApp::new("logs");
    let image = t.release(1).await;
    let specs = vec![
        t.spec(&image, "worker", 1, Some("echo hello; exec sleep 1000")),
        t.spec(
            &image,
            "worker",
            2,
            Some("echo one; echo two; exec sleep 1000"),
        ),
    ];
    t.scheduler.start(&specs).await.expect("start");

    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = t.scheduler.logs(&t.app, 10).await.expect("logs");
        if lines.len() >= 3 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.source.as_str(), l.text.as_str()))
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            ("worker.1", "hello"),
            ("worker.2", "one"),
            ("worker.2", "two")
        ]
    );
    assert!(lines.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");

    let last = t.scheduler.logs(&t.app, 1).await.expect("logs");
    assert_eq!(last.len(), 1);
    assert_eq!(last[0], lines[lines.len() - 1]);
    assert!(t.scheduler.logs(&t.app, 0).await.expect("logs").is_empty());
}

#[tokio::test]
async fn ten_containers_start_and_go_concurrently() {
    let mut t = TestApp::new("ten");
    let image = t.release(1).await;
    let specs: Vec<ContainerSpec> = (1..=10).map(|n| t.spec(&image, "web", n, None)).collect();
    let began = Instant::now();
    t.scheduler.start(&specs).await.expect("start 10");
    let started = began.elapsed();
    let states = t.states().await;
    assert_eq!(states.len(), 10);
    assert!(
        states.values().all(|s| *s == ContainerState::Up),
        "{states:?}"
    );

    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let began = Instant::now();
    t.scheduler.remove(&names).await.expect("remove 10");
    eprintln!(
        "10 containers: start {started:?}, remove {:?}",
        began.elapsed()
    );
    assert_eq!(t.states().await, BTreeMap::new());
}

#[tokio::test]
async fn an_unreachable_engine_is_unavailable_within_seconds() {
    for host in ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"] {
        let settings = DockerSettings {
            host: Some(host.to_owned()),
            ..DockerSettings::default()
        };
        let began = Instant::now();
        let scheduler = DockerScheduler::new(settings.clone());
        let spec = RunSpec {
            name: "nowhere_v1.run.1".to_owned(),
            app: "nowhere".to_owned(),
            version: 1,
            num: 1,
            image: TEST_IMAGE.to_owned(),
            command: "true".to_owned(),
            env: BTreeMap::new(),
            memory: None,
            cpu_shares: None,
            timeout: Duration::from_secs(5),
            output_limit: 1024 * 1024,
        };
        let web = ContainerSpec {
            name: "nowhere_v1.web.1".to_owned(),
            app: "nowhere".to_owned(),
            version: 1,
            proc_type: "web".to_owned(),
            num: 1,
            image: TEST_IMAGE.to_owned(),
            command: None,
            env: BTreeMap::new(),
            memory: None,
            cpu_shares: None,
            tags: BTreeMap::new(),
        };
        let results = [
            scheduler.publish(TEST_IMAGE, "nowhere", 1).await.err(),
            scheduler.image(TEST_IMAGE).await.err(),
            scheduler.release_versions("nowhere").await.err(),
            scheduler.unpublish("nowhere", &[1]).await.err(),
            scheduler.published_apps().await.err(),
            scheduler.forget("nowhere").await.err(),
            scheduler.start(&[web]).await.err(),
            scheduler.list(None).await.err(),
            scheduler
                .remove(&["nowhere_v1.web.1".to_owned()])
                .await
                .err(),
            scheduler.logs("nowhere", 10).await.err(),
            scheduler.run(&spec).await.err(),
            DockerScheduler::connect(settings).await.err(),
        ];
        for result in results {
            assert!(
                matches!(&result, Some(SchedulerError::Unavailable(m)) if m.contains("unreachable")),
                "{host}: {result:?}"
            );
        }
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{host}: took {:?}",
            began.elapsed()
        );
    }
}

#[tokio::test]
async fn callers_during_an_engine_outage_share_one_connect_attempt() {
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let connect_timeout = Duration::from_secs(1);
    let scheduler = DockerScheduler::new(DockerSettings {
        host: Some(format!("tcp://{}", silent.local_addr().expect("address"))),
        connect_timeout,
        ..DockerSettings::default()
    });
    let began = Instant::now();
    let results = futures_util::future::join_all((0..6).map(|_| scheduler.list(None))).await;
    let took = began.elapsed();
    for result in results {
        assert!(
            matches!(&result, Err(SchedulerError::Unavailable(m)) if m.contains("unreachable")),
            "{result:?}"
        );
    }
    assert!(
        took < connect_timeout * 2,
        "6 concurrent callers took {took:?}: they queued for attempts of their own"
    );
    // A later call tries again rather than repeating the old failure.
    let began = Instant::now();
    assert!(scheduler.list(None).await.is_err());
    assert!(
        began.elapsed() >= connect_timeout,
        "no new attempt was made"
    );
}

#[tokio::test]
async fn a_crashed_process_comes_back() {
    let mut t = TestApp::new("crash");
    let image = t.release(1).await;
    let spec = t.spec(
        &image,
        "worker",
        1,
        Some("echo up; trap 'exit 3' TERM; sleep 1000 & wait"),
    );
    t.scheduler
        .start(std::slice::from_ref(&spec))
        .await
        .expect("start");
    let crashed = Command::new("docker")
        .args(["exec", &spec.name, "kill", "1"])
        .output()
        .expect("docker exec");
    // The exec dies with the container when PID 1 exits first (137): the crash happened.
    assert!(
        crashed.status.success() || crashed.status.code() == Some(137),
        "{crashed:?}"
    );

    let docker = engine().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = docker
            .inspect_container(&spec.name, None::<InspectContainerOptions>)
            .await
            .expect("inspect");
        let restarted = info.restart_count.unwrap_or(0) >= 1;
        if restarted && t.states().await[&spec.name] == ContainerState::Up {
            break;
        }
        assert!(Instant::now() < deadline, "not restarted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_command_replaces_the_image_entrypoint() {
    let mut t = TestApp::new("entrypoint");
    let image = format!("{}:v1", t.app);
    build_image(&image, "ENTRYPOINT [\"/bin/false\"]");
    t.images.push(image.clone());

    let out = t
        .scheduler
        .run(&t.run_spec(&image, "echo via the shell", Duration::from_secs(30)))
        .await
        .expect("run");
    assert_eq!((out.exit_code, out.output.as_str()), (0, "via the shell\n"));
    let worker = t.spec(&image, "worker", 1, Some("exec sleep 1000"));
    t.scheduler
        .start(std::slice::from_ref(&worker))
        .await
        .expect("a procfile command runs despite the entrypoint");
}

// ---- tenants on one engine ------------------------------------------------------------------

/// What the host (where the router runs) gets from `GET /` at `ip:5000`: the body, or why not.
fn host_get(ip: std::net::IpAddr) -> Result<String, String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::new(ip, 5000);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer)
}

/// The address the scheduler reports for a running container, waiting until it serves.
async fn serving_address(s: &DockerScheduler, app: &str) -> std::net::IpAddr {
    let observed = s.list(Some(app)).await.expect("list");
    let ip = observed
        .iter()
        .find(|o| o.proc_type == "web")
        .and_then(|o| o.address)
        .expect("a web container with an address");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match host_get(ip) {
            Ok(answer) if answer.ends_with("ok\n") => return ip,
            other => assert!(Instant::now() < deadline, "{ip} never served: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A shell loop printing `reached T` or `blocked T` for each `ip:port` target, by whether an
/// HTTP request through busybox `nc` gets the test app's "ok". (Not busybox `wget`: its `-T`
/// timeout crashes in the test image, which would read as "blocked".)
fn http_probe(targets: &[&str]) -> String {
    format!(
        "for t in {}; do \
           if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${{t%:*}} ${{t#*:}} 2>/dev/null \
              | grep -q ok; then echo reached $t; else echo blocked $t; fi; \
         done",
        targets.join(" ")
    )
}

#[tokio::test]
async fn one_app_cannot_reach_another_while_the_host_reaches_both() {
    let mut t = TestApp::new("isolated");
    let neighbour = unique("neighbour");
    let image = t.release(1).await;
    let other_image = t.release_of(&neighbour, 1).await;
    t.scheduler
        .start(&[
            t.spec(&image, "web", 1, None),
            spec_for(&neighbour, &other_image, "web", 1, None),
        ])
        .await
        .expect("start both apps");

    // The host-side router reaches every app at the address the scheduler reports.
    let own = serving_address(&t.scheduler, &t.app).await;
    let theirs = serving_address(&t.scheduler, &neighbour).await;
    assert_ne!(own, theirs);

    // A one-off run of the app reaches neither the other app nor its own web container.
    // The control: the same probe reaches a server of the run itself.
    let probe = format!(
        "(PORT=5001 start >/dev/null 2>&1 &); sleep 1; {}",
        http_probe(&[
            "127.0.0.1:5001",
            &format!("{theirs}:5000"),
            &format!("{own}:5000")
        ])
    );
    let out = t
        .scheduler
        .run(&t.run_spec(&image, &probe, Duration::from_secs(30)))
        .await
        .expect("run");
    assert_eq!(
        out.output,
        format!("reached 127.0.0.1:5001\nblocked {theirs}:5000\nblocked {own}:5000\n"),
        "{out:?}"
    );
    // ...and a web container of the neighbour cannot reach this app either.
    // (The control: it reaches its own server.)
    let from_neighbour = Command::new("docker")
        .args(["exec", &format!("{neighbour}_v1.web.1"), "sh", "-c"])
        .arg(http_probe(&["127.0.0.1:5000", &format!("{own}:5000")]))
        .output()
        .expect("docker exec");
    assert_eq!(
        String::from_utf8_lossy(&from_neighbour.stdout),
        format!("reached 127.0.0.1:5000\nblocked {own}:5000\n"),
        "{from_neighbour:?}"
    );

    // Every container sits on the platform network only, and it keeps containers apart.
    let docker = engine().await;
    for name in [t.name(1, "web", 1), format!("{neighbour}_v1.web.1")] {
        let info = docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
            .expect("inspect");
        let networks = info
            .network_settings
            .and_then(|n| n.networks)
            .expect("networks");
        let names: Vec<&String> = networks.keys().collect();
        assert_eq!(names, [t.scheduler.network_name()], "{name}");
    }
    let network = docker
        .inspect_network(t.scheduler.network_name(), None::<InspectNetworkOptions>)
        .await
        .expect("the platform network");
    let options = network.options.unwrap_or_default();
    assert_eq!(
        options
            .get("com.docker.network.bridge.enable_icc")
            .map(String::as_str),
        Some("false")
    );
    assert_eq!(
        network.labels.unwrap_or_default().get("deis.controller"),
        Some(&t.identity)
    );
}

#[tokio::test]
async fn containers_run_confined_and_still_serve() {
    let mut t = TestApp::with(
        "confined",
        DockerSettings {
            pids_limit: 40,
            ..DockerSettings::default()
        },
    );
    let image = t.release(1).await;
    let web = t.spec(&image, "web", 1, None);
    t.scheduler
        .start(std::slice::from_ref(&web))
        .await
        .expect("start");
    // busybox httpd starts as root and serves with the small capability set.
    let address = serving_address(&t.scheduler, &t.app).await;
    assert!(host_get(address).expect("served").contains(" 200 "));

    let docker = engine().await;
    let info = docker
        .inspect_container(&web.name, None::<InspectContainerOptions>)
        .await
        .expect("inspect");
    let host = info.host_config.expect("host config");
    assert_eq!(
        host.security_opt,
        Some(vec!["no-new-privileges".to_owned()])
    );
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    let mut kept = host.cap_add.unwrap_or_default();
    kept.sort();
    assert_eq!(
        kept,
        [
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "FSETID",
            "KILL",
            "NET_BIND_SERVICE",
            "SETGID",
            "SETUID"
        ]
    );
    assert_eq!(host.pids_limit, Some(40));
    assert_eq!(host.privileged, Some(false));
    assert!(host.binds.unwrap_or_default().is_empty());
    assert!(host.mounts.unwrap_or_default().is_empty());
    assert!(
        info.mounts.unwrap_or_default().is_empty(),
        "nothing mounted"
    );
    assert!(host.port_bindings.unwrap_or_default().is_empty());

    // Inside a one-off run: the same confinement, and the app's limits.
    let mut run = t.run_spec(
        &image,
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; \
         cat /proc/sys/net/ipv6/conf/all/disable_ipv6; \
         cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; \
         cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null; \
         cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; \
         mknod /tmp/null c 1 3 2>/dev/null && echo mknod allowed || echo mknod refused; \
         ls /var/run/docker.sock 2>/dev/null || echo no engine socket",
        Duration::from_secs(30),
    );
    run.memory = Some("48M".to_owned());
    run.cpu_shares = Some(300);
    let out = t.scheduler.run(&run).await.expect("run");
    // CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID (bits 0-7 but 2), NET_BIND_SERVICE (10).
    let expected = format!(
        "CapEff:\t00000000000004fb\nNoNewPrivs:\t1\n1\n{}\n300\n40\nmknod refused\nno engine socket\n",
        48 << 20
    );
    assert_eq!(out.output, expected, "{out:?}");

    // The pids limit holds: a run cannot start more processes than it allows.
    let out = t
        .scheduler
        .run(&t.run_spec(
            &image,
            "i=0; while [ $i -lt 60 ]; do sleep 5 & i=$((i+1)); done 2>&1 | head -1; echo done",
            Duration::from_secs(30),
        ))
        .await
        .expect("run");
    assert!(out.output.contains("can't fork"), "{out:?}");
}

#[tokio::test]
async fn release_images_never_touch_an_image_the_controller_did_not_make() {
    let mut t = TestApp::new("namesake");
    // A user image whose repository is the app's id, with a release-like tag.
    let namesake = format!("{}:v1", t.app);
    build_image(&namesake, "LABEL namesake=yes");
    t.images.push(namesake.clone());
    let docker = engine().await;
    let before = docker.inspect_image(&namesake).await.expect("namesake").id;

    let release = t.release(1).await;
    t.release(2).await;
    let source = docker.inspect_image(TEST_IMAGE).await.expect("source").id;
    assert_eq!(
        docker.inspect_image(&release).await.expect("release").id,
        source
    );
    assert_eq!(
        docker.inspect_image(&namesake).await.expect("namesake").id,
        before
    );

    assert_eq!(
        t.scheduler
            .release_versions(&t.app)
            .await
            .expect("versions"),
        [1, 2]
    );
    assert!(
        t.scheduler
            .published_apps()
            .await
            .expect("apps")
            .contains(&t.app)
    );
    let info = t
        .scheduler
        .image(&release)
        .await
        .expect("inspect")
        .expect("present");
    assert_eq!(Some(info.id.clone()), source);
    assert!(info.tags.contains(&TEST_IMAGE.to_owned()), "{info:?}");
    assert_eq!(
        t.scheduler.tag_kind(&release),
        TagKind::Release {
            app: t.app.clone(),
            version: 1
        }
    );
    assert_eq!(t.scheduler.tag_kind(&namesake), TagKind::Ordinary);
    // By a short id too; and a name the engine does not have is none.
    let short = &info.id.trim_start_matches("sha256:")[..12];
    assert_eq!(
        t.scheduler
            .image(short)
            .await
            .expect("inspect")
            .map(|i| i.id),
        Some(info.id.clone())
    );
    assert_eq!(
        t.scheduler
            .image(&format!("{}:nope", unique("ghost")))
            .await
            .expect("inspect"),
        None
    );

    t.scheduler
        .unpublish(&t.app, &[1])
        .await
        .expect("unpublish");
    assert_eq!(
        t.scheduler
            .release_versions(&t.app)
            .await
            .expect("versions"),
        [2]
    );
    t.scheduler.forget(&t.app).await.expect("forget");
    assert!(
        t.scheduler
            .release_versions(&t.app)
            .await
            .expect("versions")
            .is_empty()
    );
    assert!(
        !t.scheduler
            .published_apps()
            .await
            .expect("apps")
            .contains(&t.app)
    );
    // The namesake and the source are untouched.
    assert_eq!(
        docker.inspect_image(&namesake).await.expect("namesake").id,
        before
    );
    assert_eq!(
        docker.inspect_image(TEST_IMAGE).await.expect("source").id,
        source
    );
}

#[tokio::test]
async fn a_release_image_a_container_still_runs_is_kept() {
    let mut t = TestApp::new("inuse");
    // An image known only by its release tag, as after its source tag went away.
    let source = format!("{}-source:latest", t.app);
    build_image(&source, &format!("LABEL unique={}", t.app));
    t.images.push(source.clone());
    t.scheduler
        .publish(&source, &t.app, 1)
        .await
        .expect("publish");
    let release = t.scheduler.release_image(&t.app, 1);
    t.images.push(release.clone());
    let removed = Command::new("docker")
        .args(["rmi", &source])
        .output()
        .expect("docker rmi");
    assert!(removed.status.success(), "{removed:?}");

    let worker = t.spec(&release, "worker", 1, Some("exec sleep 1000"));
    t.scheduler
        .start(std::slice::from_ref(&worker))
        .await
        .expect("start");
    t.scheduler
        .forget(&t.app)
        .await
        .expect("forget keeps what runs");
    assert_eq!(
        t.scheduler
            .release_versions(&t.app)
            .await
            .expect("versions"),
        [1],
        "the engine refused and nothing was forced"
    );
    t.scheduler
        .remove(std::slice::from_ref(&worker.name))
        .await
        .expect("remove");
    t.scheduler.forget(&t.app).await.expect("forget");
    assert!(
        t.scheduler
            .release_versions(&t.app)
            .await
            .expect("versions")
            .is_empty()
    );
    assert!(engine().await.inspect_image(&release).await.is_err());
}

#[tokio::test]
async fn racing_replicas_share_the_platform_network_and_it_is_made_again_when_gone() {
    let mut t = TestApp::new("racing");
    let image = t.release(1).await;
    let replicas: Vec<DockerScheduler> = (0..4).map(|_| t.replica()).collect();
    let specs: Vec<ContainerSpec> = (1..=4).map(|n| t.spec(&image, "web", n, None)).collect();
    let results = futures_util::future::join_all(
        replicas
            .iter()
            .zip(&specs)
            .map(|(replica, spec)| replica.start(std::slice::from_ref(spec))),
    )
    .await;
    for result in results {
        result.expect("every racing replica starts its container");
    }
    // Each joined a network of ours, and a fresh caller joins the one the others agreed on.
    let label = format!("label=deis.controller={}", t.identity);
    let ours = docker_out(&["network", "ls", "--quiet", "--no-trunc", "--filter", &label]);
    let docker = engine().await;
    let mut joined = BTreeSet::new();
    for spec in &specs {
        let info = docker
            .inspect_container(&spec.name, None::<InspectContainerOptions>)
            .await
            .expect("inspect");
        let networks = info
            .network_settings
            .and_then(|n| n.networks)
            .expect("networks");
        let endpoint = &networks[t.scheduler.network_name()];
        let id = endpoint.network_id.clone().expect("network id");
        assert!(ours.contains(&id), "{id} not in {ours}");
        joined.insert(id);
    }
    eprintln!(
        "4 racing replicas made {} network(s) and joined {}",
        ours.split_whitespace().count(),
        joined.len()
    );
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    t.scheduler.remove(&names).await.expect("remove");

    // Removed by hand while nothing uses them: made again on the next start.
    for id in ours.split_whitespace() {
        let gone = Command::new("docker")
            .args(["network", "rm", id])
            .output()
            .expect("docker network rm");
        assert!(gone.status.success(), "{gone:?}");
    }
    t.scheduler.start(&specs[..1]).await.expect("start again");
    assert_eq!(
        t.states().await.values().collect::<Vec<_>>(),
        [&ContainerState::Up]
    );
}

#[tokio::test]
async fn a_network_of_our_name_that_is_not_ours_is_never_used() {
    let mut t = TestApp::new("squatted");
    let image = t.release(1).await;
    let name = t.scheduler.network_name().to_owned();
    let made = Command::new("docker")
        .args(["network", "create", &name])
        .output()
        .expect("docker network create");
    assert!(made.status.success(), "{made:?}");
    t.foreign_networks.push(name.clone());
    failed_with(
        t.scheduler.start(&[t.spec(&image, "web", 1, None)]).await,
        "is not this controller's",
    );
    failed_with(
        t.scheduler
            .run(&t.run_spec(&image, "true", Duration::from_secs(5)))
            .await,
        "is not this controller's",
    );
    assert_eq!(t.states().await, BTreeMap::new());
    assert!(
        docker_out(&["network", "inspect", &name]).contains(&name),
        "the stranger's network is left alone"
    );
}

#[tokio::test]
async fn a_running_container_outside_the_platform_network_is_replaced() {
    let mut t = TestApp::new("upgrade");
    let image = t.release(1).await;
    let web = t.spec(&image, "web", 1, None);
    // As a controller before the platform network would have left it: ours, on the default bridge.
    let labels = [
        format!("deis.controller={}", t.identity),
        format!("deis.app={}", t.app),
        "deis.release=1".to_owned(),
        "deis.type=web".to_owned(),
        "deis.num=1".to_owned(),
    ];
    let mut args = vec!["run", "-d", "--name", &web.name];
    for label in &labels {
        args.extend(["--label", label]);
    }
    args.push(&image);
    let made = Command::new("docker")
        .args(&args)
        .output()
        .expect("docker run");
    assert!(made.status.success(), "{made:?}");
    let docker = engine().await;
    let before = container_id(&docker, &web.name).await;
    t.scheduler
        .start(std::slice::from_ref(&web))
        .await
        .expect("start");
    assert_ne!(container_id(&docker, &web.name).await, before, "replaced");
    serving_address(&t.scheduler, &t.app).await;
}

/// Builds a one-line variant of the test image as `tag`.
fn build_image(tag: &str, line: &str) {
    let mut build = Command::new("docker")
        .args(["build", "--quiet", "--tag", tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker build");
    let recipe = format!("FROM {TEST_IMAGE}\n{line}\n");
    std::io::Write::write_all(&mut build.stdin.take().expect("stdin"), recipe.as_bytes())
        .expect("write the recipe");
    assert!(build.wait().expect("docker build").success());
}

/// A tar archive of `dockerfile` as the only file, as a build context.
fn context_of(dockerfile: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write the Dockerfile");
    let out = Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(dir.path())
        .arg("Dockerfile")
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar: {out:?}");
    out.stdout
}

#[tokio::test]
async fn builds_label_their_image_fail_with_the_reason_and_discard_only_untagged_images() {
    let mut t = TestApp::new("build");
    let docker = engine().await;
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let output = |line: &str| lines.lock().expect("lines").push(line.to_owned());
    let marker = unique("built");
    let recipe = format!("FROM {TEST_IMAGE}\nENV BUILT={marker}\nRUN echo step-output\n");
    let id = t
        .scheduler
        .build_image(&t.app, context_of(&recipe), &output)
        .await
        .expect("the build succeeds");
    assert!(
        lines
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l == "step-output"),
        "{:?}",
        lines.lock().expect("lines")
    );
    let built = docker.inspect_image(&id).await.expect("the built image");
    let config = built.config.expect("config");
    let labels = config.labels.expect("labels");
    assert_eq!(labels.get("deis.controller"), Some(&t.identity));
    assert_eq!(labels.get("deis.app"), Some(&t.app));
    assert!(
        config
            .env
            .expect("env")
            .contains(&format!("BUILT={marker}"))
    );
    assert_eq!(built.repo_tags.unwrap_or_default(), Vec::<String>::new());

    // Published, the image is a release's: discarding it leaves it alone.
    t.scheduler.publish(&id, &t.app, 1).await.expect("publish");
    t.images.push(t.scheduler.release_image(&t.app, 1));
    t.scheduler.discard_image(&id).await.expect("discard");
    assert!(
        docker.inspect_image(&id).await.is_ok(),
        "a tagged image was removed"
    );

    // Untagged, it goes; gone, discarding again is fine.
    let other = format!("FROM {TEST_IMAGE}\nENV BUILT={marker}-2\n");
    let id = t
        .scheduler
        .build_image(&t.app, context_of(&other), &output)
        .await
        .expect("the second build succeeds");
    t.scheduler.discard_image(&id).await.expect("discard");
    assert!(
        docker.inspect_image(&id).await.is_err(),
        "the untagged image stayed"
    );
    t.scheduler
        .discard_image(&id)
        .await
        .expect("discard a gone image");

    // A failing step fails the build with the engine's reason.
    let broken = format!("FROM {TEST_IMAGE}\nENV BUILT={marker}-3\nRUN exit 3\n");
    let result = t
        .scheduler
        .build_image(&t.app, context_of(&broken), &output)
        .await;
    failed_with(result, "non-zero code: 3");
}
