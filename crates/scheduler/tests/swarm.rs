//! `SwarmScheduler` against a real single-node swarm (`cargo xtask test` makes one when the
//! engine is in none, and sets `DEIS_TEST_SWARM=1`), with `deis/test-app:latest`.
//!
//! Without `DEIS_TEST_SWARM` these tests say so and pass without checking anything when the
//! engine is no swarm manager; with it, such an engine fails them. Every test has its own app
//! and identity; a guard removes its services, containers, images and networks.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::{InspectContainerOptions, ListServicesOptionsBuilder};
use deis_domain::{ContainerSpec, ContainerState, Observed, RunSpec, Scheduler, SchedulerError};
use deis_scheduler::{DockerSettings, SwarmScheduler};

const TEST_IMAGE: &str = "deis/test-app:latest";

/// Whether the engine manages a swarm; panics when `DEIS_TEST_SWARM` asks for one and it
/// does not.
fn swarm_ready() -> bool {
    let state = Command::new("docker")
        .args(["info", "--format", "{{.Swarm.ControlAvailable}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
        .unwrap_or(false);
    if !state {
        assert!(
            std::env::var_os("DEIS_TEST_SWARM").is_none(),
            "DEIS_TEST_SWARM is set but the engine is no swarm manager"
        );
        eprintln!(
            "the engine is no swarm manager: swarm tests not run (cargo xtask test runs them)"
        );
    }
    state
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

fn docker_out(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// One test's app on the swarm, cleaned up on drop.
struct TestApp {
    app: String,
    identity: String,
    scheduler: SwarmScheduler,
}

impl TestApp {
    fn new(prefix: &str) -> Self {
        let identity = unique("deis-swarm");
        Self {
            app: unique(prefix),
            scheduler: SwarmScheduler::new(DockerSettings {
                identity: identity.clone(),
                start_timeout: Duration::from_secs(30),
                stop_timeout: Duration::from_secs(1),
                pids_limit: 99,
                ..DockerSettings::default()
            }),
            identity,
        }
    }

    async fn release(&self, version: i64) -> String {
        self.scheduler
            .publish(TEST_IMAGE, &self.app, version)
            .await
            .expect("publish the test image");
        self.scheduler.release_image(&self.app, version)
    }

    fn spec(&self, image: &str, proc_type: &str, num: i64, command: Option<&str>) -> ContainerSpec {
        let mut env = BTreeMap::from([("DEIS_APP".to_owned(), self.app.clone())]);
        if proc_type == "web" {
            env.insert("PORT".to_owned(), "5000".to_owned());
        }
        ContainerSpec {
            name: format!("{}_v1.{proc_type}.{num}", self.app),
            app: self.app.clone(),
            version: 1,
            proc_type: proc_type.to_owned(),
            num,
            image: image.to_owned(),
            command: command.map(str::to_owned),
            env,
            memory: Some("64M".to_owned()),
            cpu_shares: None,
            tags: BTreeMap::new(),
        }
    }

    async fn observed(&self) -> Vec<Observed> {
        self.scheduler.list(Some(&self.app)).await.expect("list")
    }

    async fn states(&self) -> BTreeMap<String, ContainerState> {
        self.observed()
            .await
            .into_iter()
            .map(|o| (o.name, o.state))
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let label = format!("label=deis.controller={}", self.identity);
        let services = docker_out(&["service", "ls", "--quiet", "--filter", &label]);
        let services: Vec<&str> = services.split_whitespace().collect();
        if !services.is_empty() {
            let _ = Command::new("docker")
                .args(["service", "rm"])
                .args(&services)
                .output();
        }
        // Task containers go with their services, a moment later.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = docker_out(&["ps", "--all", "--quiet", "--filter", &label]);
            let left: Vec<&str> = left.split_whitespace().collect();
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let _ = Command::new("docker")
                    .args(["rm", "--force"])
                    .args(&left)
                    .output();
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let reference = format!("reference=deis-release/{}/*", self.identity);
        let images = docker_out(&[
            "images",
            "--filter",
            &reference,
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]);
        let images: Vec<&str> = images.split_whitespace().collect();
        if !images.is_empty() {
            let _ = Command::new("docker").arg("rmi").args(&images).output();
        }
        let network = self.scheduler.network_name().to_owned();
        for name in [network.clone(), format!("{network}-config")] {
            for _ in 0..20 {
                let out = Command::new("docker")
                    .args(["network", "rm", &name])
                    .output();
                let gone = out.is_ok_and(|o| {
                    o.status.success() || String::from_utf8_lossy(&o.stderr).contains("not found")
                });
                if gone {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

async fn engine() -> Docker {
    Docker::connect_with_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("docker engine answers")
}

/// `GET /` at `addr` from the host, as the router sends it: the answer, or why not.
fn host_get(addr: SocketAddr) -> Result<String, String> {
    use std::io::{Read, Write};
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

/// Where the router reaches a container, waiting until it serves there.
async fn serving(o: &Observed) -> SocketAddr {
    let addr = SocketAddr::new(
        o.address.expect("a running task has its node's address"),
        o.port.expect("a running task publishes its port"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match host_get(addr) {
            Ok(answer) if answer.ends_with("ok\n") => return addr,
            other => assert!(Instant::now() < deadline, "{addr} never served: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failed_with(result: Result<impl std::fmt::Debug, SchedulerError>, needle: &str) {
    match result {
        Err(SchedulerError::Failed(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("expected Failed mentioning {needle:?}, got {other:?}"),
    }
}

/// The names of this test's services, as the engine lists them.
async fn services(t: &TestApp) -> Vec<String> {
    let filters = HashMap::from([("label", vec![format!("deis.controller={}", t.identity)])]);
    let options = ListServicesOptionsBuilder::new().filters(&filters).build();
    let mut names: Vec<String> = engine()
        .await
        .list_services(Some(options))
        .await
        .expect("services")
        .into_iter()
        .filter_map(|s| s.spec.and_then(|s| s.name))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn services_start_serve_on_published_ports_scale_and_go() {
    if !swarm_ready() {
        return;
    }
    let t = TestApp::new("swarm-start");
    let image = t.release(1).await;
    let specs = vec![
        t.spec(&image, "web", 1, None),
        t.spec(&image, "web", 2, None),
        t.spec(&image, "worker", 1, Some("exec sleep 1000")),
    ];
    let began = Instant::now();
    t.scheduler.start(&specs).await.expect("start");
    eprintln!("started 3 services in {:?}", began.elapsed());

    let app = &t.app;
    assert_eq!(
        services(&t).await,
        [
            format!("{app}_v1_web_1"),
            format!("{app}_v1_web_2"),
            format!("{app}_v1_worker_1")
        ],
        "one service per container, named after it"
    );
    let observed = t.observed().await;
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
    assert_eq!(observed[0].name, format!("{app}_v1.web.1"));
    // The host (the router) reaches each web task at its node's address and published port.
    let one = serving(&observed[0]).await;
    let two = serving(&observed[1]).await;
    assert_ne!(one, two);
    assert!(one.port() != 5000 && two.port() != 5000, "{one} {two}");

    // The service and its task container carry the labels, the limits and the confinement.
    let docker = engine().await;
    let service = docker
        .inspect_service(
            &format!("{app}_v1_web_1"),
            None::<bollard::query_parameters::InspectServiceOptions>,
        )
        .await
        .expect("service");
    let labels = service.spec.and_then(|s| s.labels).expect("labels");
    assert_eq!(labels["deis.app"], *app);
    assert_eq!(labels["deis.type"], "web");
    assert_eq!(labels["deis.release"], "1");
    assert_eq!(labels["deis.controller"], t.identity);
    let task_container = docker_out(&[
        "ps",
        "--quiet",
        "--filter",
        &format!("label=com.docker.swarm.service.name={app}_v1_web_1"),
    ]);
    let info = docker
        .inspect_container(task_container.trim(), None::<InspectContainerOptions>)
        .await
        .expect("task container");
    let host = info.host_config.expect("host config");
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(
        !host
            .cap_add
            .unwrap_or_default()
            .iter()
            .any(|c| c == "NET_RAW")
    );
    assert_eq!(host.pids_limit, Some(99));
    assert_eq!(host.memory, Some(64 << 20));
    let sysctls = host.sysctls.unwrap_or_default();
    assert_eq!(
        sysctls
            .get("net.ipv6.conf.all.disable_ipv6")
            .map(String::as_str),
        Some("1")
    );
    let networks = info
        .network_settings
        .and_then(|n| n.networks)
        .expect("networks");
    assert_eq!(
        networks.keys().collect::<Vec<_>>(),
        [t.scheduler.network_name()],
        "on the platform network only"
    );

    // Scale down: exactly the named container goes, the others keep serving.
    t.scheduler
        .remove(&[specs[1].name.clone()])
        .await
        .expect("remove web.2");
    assert_eq!(
        t.states().await.keys().cloned().collect::<Vec<_>>(),
        [specs[0].name.clone(), specs[2].name.clone()]
    );
    assert!(host_get(one).is_ok_and(|a| a.ends_with("ok\n")));
    t.scheduler
        .remove(&[specs[1].name.clone()])
        .await
        .expect("removing what is gone is fine");
    // Starting what runs already reuses it.
    t.scheduler.start(&specs[..1]).await.expect("reuse");
    assert_eq!(t.observed().await[0].port, Some(one.port()));

    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    t.scheduler.remove(&names).await.expect("remove all");
    assert!(services(&t).await.is_empty());
    assert_eq!(t.states().await, BTreeMap::new());
    let left = docker_out(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("label=deis.controller={}", t.identity),
    ]);
    assert_eq!(
        left.trim(),
        "",
        "task containers are gone when remove returns"
    );
}

#[tokio::test]
async fn a_failed_start_removes_what_it_made_and_says_why() {
    if !swarm_ready() {
        return;
    }
    let t = TestApp::new("swarm-fail");
    let image = t.release(1).await;
    let good = t.spec(&image, "web", 1, None);
    let crashing = t.spec(&image, "worker", 1, Some("echo dying; exit 3"));
    failed_with(
        t.scheduler.start(&[good.clone(), crashing]).await,
        "exited with code 3",
    );
    assert!(services(&t).await.is_empty(), "all or nothing");

    let mut missing = t.spec(&image, "web", 2, None);
    missing.image = format!("{}:v9", unique("ghost"));
    failed_with(t.scheduler.start(&[missing]).await, "not found");

    let mut nowhere = good.clone();
    nowhere.tags = BTreeMap::from([("zone".to_owned(), "nowhere".to_owned())]);
    failed_with(t.scheduler.start(&[nowhere]).await, "cannot be placed");
    assert!(services(&t).await.is_empty());
}

#[tokio::test]
async fn a_task_removed_behind_its_back_is_replaced_within_30_seconds() {
    if !swarm_ready() {
        return;
    }
    let t = TestApp::new("swarm-heal");
    let image = t.release(1).await;
    let web = t.spec(&image, "web", 1, None);
    t.scheduler
        .start(std::slice::from_ref(&web))
        .await
        .expect("start");
    let service = format!("label=com.docker.swarm.service.name={}_v1_web_1", t.app);
    let first = docker_out(&["ps", "--quiet", "--filter", &service]);
    let removed = Command::new("docker")
        .args(["rm", "--force", first.trim()])
        .output()
        .expect("docker rm");
    assert!(removed.status.success(), "{removed:?}");

    let began = Instant::now();
    let deadline = began + Duration::from_secs(30);
    loop {
        let now = docker_out(&["ps", "--quiet", "--filter", &service]);
        let observed = t.observed().await;
        if !now.trim().is_empty()
            && now.trim() != first.trim()
            && observed.len() == 1
            && observed[0].state == ContainerState::Up
        {
            serving(&observed[0]).await;
            eprintln!("replaced in {:?}", began.elapsed());
            break;
        }
        assert!(Instant::now() < deadline, "not replaced: {observed:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn runs_and_logs_on_the_swarm_network_where_nothing_reaches_a_task() {
    if !swarm_ready() {
        return;
    }
    let t = TestApp::new("swarm-run");
    let image = t.release(1).await;
    t.scheduler
        .start(&[
            t.spec(&image, "web", 1, None),
            t.spec(
                &image,
                "worker",
                1,
                Some("echo hello; echo again; exec sleep 1000"),
            ),
        ])
        .await
        .expect("start");
    let docker = engine().await;
    let task_container = docker_out(&[
        "ps",
        "--quiet",
        "--filter",
        &format!("label=com.docker.swarm.service.name={}_v1_web_1", t.app),
    ]);
    let info = docker
        .inspect_container(task_container.trim(), None::<InspectContainerOptions>)
        .await
        .expect("task container");
    let ip = info
        .network_settings
        .and_then(|n| n.networks)
        .expect("networks")[t.scheduler.network_name()]
    .ip_address
    .clone()
    .expect("an address on the network");

    // A one-off run joins the network, gets its exit code and output, and reaches no task.
    // The control: the same probe reaches a server of the run itself.
    let probe = format!(
        "(PORT=5001 start >/dev/null 2>&1 &); sleep 1; \
         for target in 127.0.0.1:5001 {ip}:5000; do \
           if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${{target%:*}} ${{target#*:}} \
              2>/dev/null | grep -q ok; then echo reached; else echo blocked; fi; \
         done; exit 7"
    );
    let spec = RunSpec {
        name: format!("{}_v1.run.1", t.app),
        app: t.app.clone(),
        version: 1,
        num: 1,
        image: image.clone(),
        command: probe,
        env: BTreeMap::new(),
        memory: None,
        cpu_shares: None,
        timeout: Duration::from_secs(30),
        output_limit: 1024 * 1024,
    };
    let out = t.scheduler.run(&spec).await.expect("run");
    assert_eq!(
        (out.exit_code, out.output.as_str()),
        (7, "reached\nblocked\n"),
        "the run reaches its own server, not the task"
    );
    let left = docker_out(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("name={}", spec.name),
    ]);
    assert_eq!(left.trim(), "", "the run's container is removed");

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
            ("web.1", "test-app listening on 5000"),
            ("worker.1", "again"),
            ("worker.1", "hello")
        ]
    );
    assert!(lines.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    let tail = t.scheduler.tail(&format!("{}_v1.worker.1", t.app), 1).await;
    assert_eq!(tail, "again\n");
}
