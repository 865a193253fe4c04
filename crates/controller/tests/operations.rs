//! The binary as an operator runs it: `check`, JSON logs with request ids, a scheduler
//! identity of its own per database, and a graceful stop on SIGTERM.
//!
//! Apart from `check` against the real engine (which only pings it), these tests point the
//! controller at an engine socket that does not exist and never touch the shared engine.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;

const NO_ENGINE: &str = "unix:///nonexistent/deis-test/docker.sock";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// `deis-controller check` with `env`, its output and how long it took.
fn check(env: &[(&str, &str)]) -> (Output, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deis-controller"));
    cmd.arg("check")
        .env_remove("DEIS_CONFIG")
        .env_remove("DOCKER_HOST")
        .env("DEIS_ROUTER_BIND", "")
        .env("DEIS_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("check runs");
    (out, started.elapsed())
}

#[test]
fn check_exits_non_zero_naming_an_unreachable_engine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sqlite(dir.path(), "check.db");
    let (out, took) = check(&[("DEIS_DATABASE_URL", &db), ("DOCKER_HOST", NO_ENGINE)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("database: ok"), "{stdout}");
    assert!(stdout.contains("engine: unreachable"), "{stdout}");
    assert!(stderr.contains("unreachable: engine"), "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn check_exits_non_zero_naming_an_unreachable_database() {
    // Nothing listens on port 1: the connection is refused.
    let (out, took) = check(&[
        (
            "DEIS_DATABASE_URL",
            "postgres://deis:secret@127.0.0.1:1/deis",
        ),
        ("DOCKER_HOST", NO_ENGINE),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("database: unreachable"), "{stdout}");
    assert!(
        !stdout.contains("secret"),
        "the password is not printed: {stdout}"
    );
    assert!(stderr.contains("unreachable: database, engine"), "{stderr}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn check_passes_when_database_and_engine_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sqlite(dir.path(), "check.db");
    // The engine of the machine (DOCKER_HOST unset: the local socket), only pinged.
    let (out, _) = check(&[("DEIS_DATABASE_URL", &db)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("database: ok") && stdout.contains("engine: ok"),
        "{stdout}"
    );
}

/// A `deis-controller serve` without an engine, its stderr in a file; killed on drop.
struct Serving {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    fn start(dir: &Path, db: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = dir.join(format!("controller-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deis-controller"));
        cmd.arg("serve")
            .env_remove("DEIS_CONFIG")
            .env_remove("DEIS_SCHEDULER_IDENTITY")
            .env("DEIS_BIND", format!("127.0.0.1:{port}"))
            .env("DEIS_ROUTER_BIND", "")
            .env("DEIS_BUILDER_BIND", "")
            .env("DEIS_DATABASE_URL", db)
            .env("DEIS_SECRET_KEY", "operations-test-secret-key")
            .env("DEIS_BCRYPT_COST", "4")
            .env("DEIS_RECONCILE_INTERVAL", "0")
            .env("DOCKER_HOST", NO_ENGINE)
            .env("DEIS_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let serving = Self {
            child: cmd.spawn().expect("controller starts"),
            port,
            log,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the controller did not come up:\n{}",
                serving.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        serving
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                started.elapsed() < limit,
                "still running after {limit:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn json_logs_carry_the_request_id_on_every_line_of_the_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sqlite(dir.path(), "json.db");
    let mut serving = Serving::start(dir.path(), &db, &[("DEIS_LOG_FORMAT", "json")]);
    let http = Client::new();
    let res = http
        .get(serving.url("/healthz"))
        .header("X-Request-Id", "json-healthz-1")
        .send()
        .expect("healthz");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "json-healthz-1");
    let res = http
        .post(serving.url("/v1/auth/login"))
        .header("X-Request-Id", "json-login-1")
        .form(&[("username", "nobody"), ("password", "hunter2-secret")])
        .send()
        .expect("login");
    assert_eq!(res.status(), 400);
    serving.sigterm();
    assert_eq!(serving.exit_code(Duration::from_secs(20)), Some(0));
    let output = serving.output();
    let lines: Vec<Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| {
            l["target"] == "deis_api::access" && l["fields"]["request_id"] == "json-healthz-1"
        })
        .unwrap_or_else(|| panic!("no access line for json-healthz-1:\n{output}"));
    assert_eq!(access["fields"]["status"], 200);
    assert_eq!(access["fields"]["method"], "GET");
    assert_eq!(access["fields"]["route"], "/healthz");
    assert!(access["fields"]["latency_ms"].is_number(), "{access}");
    // The failed login's own line is inside the request's span and names no password.
    let failed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "login failed")
        .unwrap_or_else(|| panic!("no failed login line:\n{output}"));
    assert_eq!(failed["span"]["request_id"], "json-login-1", "{failed}");
    assert_eq!(failed["fields"]["username"], "nobody");
    assert!(!output.contains("hunter2-secret"), "a password was logged");
}

/// The identity the controller logged at start.
fn logged_identity(output: &str) -> String {
    output
        .lines()
        .find(|l| l.contains("scheduler identity"))
        .and_then(|l| l.split("identity=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        .unwrap_or_else(|| panic!("no identity logged:\n{output}"))
}

#[test]
fn every_database_has_its_own_default_scheduler_identity_and_keeps_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first_db = sqlite(dir.path(), "first.db");
    let second_db = sqlite(dir.path(), "second.db");
    let first = Serving::start(dir.path(), &first_db, &[]);
    let second = Serving::start(dir.path(), &second_db, &[]);
    // The line is written before the API listens.
    let a = logged_identity(&first.output());
    let b = logged_identity(&second.output());
    assert!(a.starts_with("deis-") && b.starts_with("deis-"), "{a} {b}");
    assert_ne!(
        a, b,
        "two installations with default settings share an identity"
    );
    drop(first);
    let again = Serving::start(dir.path(), &first_db, &[]);
    assert_eq!(logged_identity(&again.output()), a, "the identity is kept");
    drop(again);
    // An explicit identity still wins (replicas share one).
    let explicit = Serving::start(
        dir.path(),
        &first_db,
        &[("DEIS_SCHEDULER_IDENTITY", "shared-replicas")],
    );
    assert_eq!(logged_identity(&explicit.output()), "shared-replicas");
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_refuses_new_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sqlite(dir.path(), "term.db");
    let router_port = free_port();
    let mut serving = Serving::start(
        dir.path(),
        &db,
        &[("DEIS_ROUTER_BIND", &format!("127.0.0.1:{router_port}"))],
    );
    let body = b"{\"username\": \"nobody\", \"password\": \"wrong\"}";
    let mut in_flight = TcpStream::connect(("127.0.0.1", serving.port)).expect("connect");
    write!(
        in_flight,
        "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    in_flight.write_all(&body[..5]).expect("first bytes");
    std::thread::sleep(Duration::from_millis(300));
    serving.sigterm();
    // Soon no new connection is accepted, by the API or the router's listener...
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", serving.port)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still accepting"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...but the request under way is answered.
    in_flight.write_all(&body[5..]).expect("rest of the body");
    in_flight
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("Unable to log in") {
        let n = in_flight.read(&mut buf).expect("the answer arrives");
        assert!(
            n > 0,
            "closed without an answer: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"));
    drop(in_flight);
    assert_eq!(serving.exit_code(Duration::from_secs(20)), Some(0));
    assert!(
        TcpStream::connect(("127.0.0.1", router_port)).is_err(),
        "the router stopped too"
    );
    let output = serving.output();
    assert!(output.contains("stopping the router"), "{output}");
}
