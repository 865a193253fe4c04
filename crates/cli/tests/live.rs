//! The live features against a real controller and the real engine: bounded and abandoned
//! runs, followed logs, and the attachable run through the built `deis` binary.
//!
//! Each test starts its own `deis-controller serve` with a fresh SQLite database, its own
//! scheduler identity and no router listener, and removes what that identity created.
//! Needs Docker and `deis/test-app:latest` (`cargo xtask test-image`); the terminal test uses
//! `script(1)` of bsdutils, an essential Debian package (always installed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::blocking::Client;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The image every app here runs.
const TEST_IMAGE: &str = "deis/test-app:latest";

fn deis_bin() -> &'static str {
    env!("CARGO_BIN_EXE_deis")
}

/// Builds `deis-controller` once per test run (next to the `deis` binary) and returns it.
fn controller_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = Path::new(deis_bin()).with_file_name("deis-controller");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build.current_dir(&workspace).args([
            "build",
            "-p",
            "deis-controller",
            "--bin",
            "deis-controller",
        ]);
        if bin.parent().is_some_and(|p| p.ends_with("release")) {
            build.arg("--release");
        }
        assert!(
            build.status().expect("cargo runs").success(),
            "building deis-controller"
        );
        bin
    })
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `check` holds, at most `limit`.
fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// A running controller; stopped, and everything of its identity removed, on drop.
struct Controller {
    child: Child,
    url: String,
    identity: String,
    dir: TempDir,
    http: Client,
}

impl Controller {
    fn start(env: &[(&str, &str)]) -> Controller {
        let found = Command::new("docker")
            .args(["image", "inspect", TEST_IMAGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(found, "{TEST_IMAGE} is missing: `cargo xtask test-image`");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let identity = unique("deis-live");
        let log = std::fs::File::create(dir.path().join("controller.log")).expect("log file");
        let mut cmd = Command::new(controller_bin());
        cmd.arg("serve")
            .env_remove("DEIS_CONFIG")
            .env("DEIS_BIND", format!("127.0.0.1:{port}"))
            .env("DEIS_ROUTER_BIND", "")
            .env("DEIS_BUILDER_BIND", "")
            .env(
                "DEIS_DATABASE_URL",
                format!("sqlite://{}/deis.db", dir.path().display()),
            )
            .env("DEIS_SECRET_KEY", "live-tests-secret-key-0123456789")
            .env("DEIS_BCRYPT_COST", "4")
            .env("DEIS_SCHEDULER_IDENTITY", &identity)
            .env("DEIS_RECONCILE_INTERVAL", "0")
            .env("DEIS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("deis-controller starts");
        let mut controller = Controller {
            child,
            url: format!("http://127.0.0.1:{port}"),
            identity,
            dir,
            http: Client::builder().no_proxy().build().expect("http client"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = controller.child.try_wait().expect("try_wait") {
                panic!(
                    "deis-controller exited with {status}:\n{}",
                    controller.log()
                );
            }
            let healthy = controller
                .http
                .get(format!("{}/healthz", controller.url))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                return controller;
            }
            assert!(
                Instant::now() < deadline,
                "no /healthz:\n{}",
                controller.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("controller.log")).unwrap_or_default()
    }

    /// Registers `name` and returns its token.
    fn user(&self, name: &str) -> String {
        let form = [("username", name), ("password", "s3cret")];
        let res = self
            .http
            .post(format!("{}/v1/auth/register", self.url))
            .form(&form)
            .send()
            .expect("register");
        assert_eq!(res.status().as_u16(), 201, "register {name}");
        let body: Value = self
            .http
            .post(format!("{}/v1/auth/login/", self.url))
            .form(&form)
            .send()
            .expect("login")
            .json()
            .expect("login body");
        body["token"].as_str().expect("token").to_owned()
    }

    fn post(&self, token: &str, path: &str, body: Value) -> (u16, String) {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("token {token}"))
            .json(&body)
            .send()
            .expect("request");
        (res.status().as_u16(), res.text().unwrap_or_default())
    }

    /// Creates `app` and deploys the test image with `procfile`.
    fn deploy(&self, token: &str, app: &str, procfile: Value) {
        let (status, text) = self.post(token, "/v1/apps", json!({ "id": app }));
        assert_eq!(status, 201, "{text}");
        let (status, text) = self.post(
            token,
            &format!("/v1/apps/{app}/builds"),
            json!({ "image": TEST_IMAGE, "procfile": procfile }),
        );
        assert_eq!(status, 201, "{text}\n{}", self.log());
    }

    /// Names of this controller's containers of `app` on the engine.
    fn containers(&self, app: &str) -> Vec<String> {
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=deis.controller={}", self.identity),
            "--filter",
            &format!("label=deis.app={app}"),
            "--format",
            "{{.Names}}",
        ])
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let label = format!("label=deis.controller={}", self.identity);
        let ids: Vec<String> = docker(&["ps", "-aq", "--filter", &label])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            docker(&args);
        }
        let reference = format!("reference=deis-release/{}/*", self.identity);
        let images: Vec<String> = docker(&[
            "images",
            "--filter",
            &reference,
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
        if !images.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(images.iter().map(String::as_str));
            docker(&args);
        }
        let networks: Vec<String> = docker(&["network", "ls", "-q", "--filter", &label])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !networks.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(networks.iter().map(String::as_str));
            docker(&args);
        }
    }
}

#[test]
fn run_output_is_bounded_and_an_abandoned_run_leaves_no_container() {
    let ctl = Controller::start(&[("DEIS_RUN_OUTPUT_LIMIT", "100000")]);
    let token = ctl.user("alice");
    let app = unique("bounded");
    ctl.deploy(&token, &app, json!({ "cmd": "sleep 1000" }));

    // 20 MB of output: the answer keeps the first 100,000 bytes and says it was cut.
    let (status, text) = ctl.post(
        &token,
        &format!("/v1/apps/{app}/run"),
        json!({ "command": "head -c 20000000 /dev/zero | tr '\\0' x; echo; exit 4" }),
    );
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body[0], 4);
    let output = body[1].as_str().expect("output");
    assert!(
        output.starts_with("xxxx"),
        "{}",
        &output[..40.min(output.len())]
    );
    assert!(
        output.ends_with("\n[deis: output cut after 100000 bytes (run_output_limit)]\n"),
        "{}",
        &output[output.len().saturating_sub(100)..]
    );
    assert_eq!(output.len(), 100_000 + 58);

    // A client that leaves mid-run: the container is gone within seconds.
    let body = json!({ "command": "sleep 600" }).to_string();
    let mut client = TcpStream::connect(ctl.url.trim_start_matches("http://")).expect("connect");
    write!(
        client,
        "POST /v1/apps/{app}/run HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the run");
    let is_run = |name: &String| name.contains(".run.");
    eventually("the run's container", Duration::from_secs(20), || {
        ctl.containers(&app).iter().any(is_run)
    });
    drop(client);
    let left_at = Instant::now();
    eventually(
        "the abandoned run's container to go",
        Duration::from_secs(15),
        || !ctl.containers(&app).iter().any(is_run),
    );
    eprintln!("abandoned run removed after {:?}", left_at.elapsed());
}

/// Reads a streamed answer line by line in a thread; the lines arrive on the channel.
fn lines_of(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

/// Waits until a line containing `wanted` arrives; returns it.
fn expect_line(lines: &mpsc::Receiver<String>, wanted: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(wanted) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {wanted:?} within {limit:?}: {e}"),
        }
    }
}

#[test]
fn a_follower_sees_events_and_container_lines_as_they_happen() {
    let ctl = Controller::start(&[]);
    let token = ctl.user("alice");
    let app = unique("follow");
    ctl.deploy(
        &token,
        &app,
        json!({ "worker": "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done" }),
    );
    let res = ctl
        .http
        .get(format!(
            "{}/v1/apps/{app}/logs?follow=true&lines=5",
            ctl.url
        ))
        .header("Authorization", format!("token {token}"))
        .send()
        .expect("follow");
    assert_eq!(res.status().as_u16(), 200);
    let lines = lines_of(res);
    expect_line(&lines, "deis[api]: alice deployed", Duration::from_secs(10));
    // After the follow began: an event, and a container that starts and prints.
    let (status, text) = ctl.post(
        &token,
        &format!("/v1/apps/{app}/config"),
        json!({ "values": { "GREETING": "hi" } }),
    );
    assert_eq!(status, 201, "{text}");
    expect_line(
        &lines,
        "deis[api]: alice added GREETING",
        Duration::from_secs(5),
    );
    let (status, text) = ctl.post(
        &token,
        &format!("/v1/apps/{app}/scale"),
        json!({ "worker": 1 }),
    );
    assert_eq!(status, 204, "{text}");
    let first = expect_line(
        &lines,
        &format!("{app}[worker.1]: tick-"),
        Duration::from_secs(10),
    );
    let second = expect_line(
        &lines,
        &format!("{app}[worker.1]: tick-"),
        Duration::from_secs(5),
    );
    assert_ne!(first, second, "lines arrive as they are printed");
}

/// Someone at a shell with the `deis` binary, logged in to `ctl` as a new user.
struct Deis {
    home: TempDir,
}

impl Deis {
    fn login(ctl: &Controller, name: &str) -> Deis {
        ctl.user(name);
        let deis = Deis {
            home: tempfile::tempdir().expect("tempdir"),
        };
        let out = deis
            .command(&[
                "login",
                &ctl.url,
                &format!("--username={name}"),
                "--password=s3cret",
            ])
            .output()
            .expect("deis runs");
        assert!(
            out.status.success(),
            "login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        deis
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(deis_bin());
        cmd.args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env_remove("DEIS_PROFILE")
            .env("DEIS_HIDE_PROGRESS", "1")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdin(Stdio::null());
        cmd
    }
}

#[test]
fn deis_run_streams_passes_stdin_and_exit_codes_and_drives_a_terminal() {
    let ctl = Controller::start(&[]);
    let deis = Deis::login(&ctl, "bob");
    let token = ctl.user("carol");
    let app = unique("attach");
    ctl.deploy(&token, &app, json!({ "cmd": "sleep 1000" }));
    let (status, text) = ctl.post(
        &token,
        &format!("/v1/apps/{app}/perms"),
        json!({ "username": "bob" }),
    );
    assert_eq!(status, 201, "{text}");

    // The first line shows while the command still runs.
    let began = Instant::now();
    let mut child = deis
        .command(&["run", "-a", &app, "echo first; sleep 3; echo second"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deis run");
    let lines = lines_of(child.stdout.take().expect("stdout"));
    expect_line(&lines, "first", Duration::from_secs(10));
    let first_after = began.elapsed();
    expect_line(&lines, "second", Duration::from_secs(10));
    assert!(child.wait().expect("deis ends").success());
    assert!(
        began.elapsed() - first_after > Duration::from_secs(2),
        "first came {first_after:?} after the start, long before the command ended"
    );

    // Standard input reaches the command; its exit code is deis's.
    let mut child = deis
        .command(&["run", "-a", &app, "read x; echo got-$x; exit 7"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deis run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("deis ends");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got-hello\n");
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `--` keeps the command's quoting; stderr stays stderr.
    let out = deis
        .command(&[
            "run",
            "-a",
            &app,
            "--",
            "sh",
            "-c",
            "echo a b; echo oops >&2",
        ])
        .output()
        .expect("deis run");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a b\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert!(out.status.success());

    // Under a pseudo-terminal (script(1)), `deis run sh` is a shell on a terminal.
    let mut shell = Command::new("script")
        .args([
            "-qefc",
            &format!("{} run -a {app} sh", deis_bin()),
            "/dev/null",
        ])
        .current_dir(deis.home.path())
        .env("HOME", deis.home.path())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("DEIS_HIDE_PROGRESS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut typing = shell.stdin.take().expect("stdin");
    let screen = lines_of(shell.stdout.take().expect("stdout"));
    thread::sleep(Duration::from_secs(3));
    typing
        .write_all(b"tty; echo typed-$((40+2)); exit 5\n")
        .expect("type");
    expect_line(&screen, "/dev/pts/", Duration::from_secs(15));
    expect_line(&screen, "typed-42", Duration::from_secs(5));
    let status = shell.wait().expect("script ends");
    drop(typing);
    assert_eq!(status.code(), Some(5));

    // A client killed mid-run leaves no container behind.
    let mut child = deis
        .command(&["run", "-a", &app, "sleep 600"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("deis run");
    let is_run = |name: &String| name.contains(".run.");
    eventually("the run's container", Duration::from_secs(20), || {
        ctl.containers(&app).iter().any(is_run)
    });
    child.kill().expect("kill deis");
    let _ = child.wait();
    eventually(
        "the killed client's container to go",
        Duration::from_secs(15),
        || !ctl.containers(&app).iter().any(is_run),
    );
}

#[test]
fn deis_logs_follow_shows_a_config_change_and_a_ticking_process() {
    let ctl = Controller::start(&[]);
    let deis = Deis::login(&ctl, "dave");
    let app = unique("tail");
    let out = deis
        .command(&["apps:create", &app, "--no-remote"])
        .output()
        .expect("deis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = deis
        .command(&[
            "builds:create",
            TEST_IMAGE,
            "-a",
            &app,
            "--procfile",
            "ticker: i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done",
        ])
        .output()
        .expect("deis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut follower = deis
        .command(&["logs", "-f", "-a", &app])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("deis logs -f");
    let lines = lines_of(follower.stdout.take().expect("stdout"));
    expect_line(&lines, "deis[api]: dave deployed", Duration::from_secs(10));
    let out = deis
        .command(&["config:set", "GREETING=hi", "-a", &app])
        .output()
        .expect("deis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect_line(
        &lines,
        "deis[api]: dave added GREETING",
        Duration::from_secs(5),
    );
    let out = deis
        .command(&["ps:scale", "ticker=1", "-a", &app])
        .output()
        .expect("deis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect_line(
        &lines,
        &format!("{app}[ticker.1]: tick-"),
        Duration::from_secs(10),
    );
    expect_line(
        &lines,
        &format!("{app}[ticker.1]: tick-"),
        Duration::from_secs(5),
    );
    follower.kill().expect("stop following");
    let _ = follower.wait();
}

#[test]
fn everyday_commands_whoami_config_get_pull_push_and_a_guessed_app() {
    let ctl = Controller::start(&[]);
    let deis = Deis::login(&ctl, "erin");
    let ok = |args: &[&str]| {
        let out = deis.command(args).output().expect("deis runs");
        assert!(
            out.status.success(),
            "deis {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(ok(&["whoami"]), "erin\n");
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef deis"),
        ("fish", "complete -c deis"),
    ] {
        let script = ok(&["completion", shell]);
        assert!(
            script.contains(marker) && script.contains("config:get"),
            "{shell}:\n{script}"
        );
    }
    let me: Value = serde_json::from_str(&ok(&["whoami", "--json"])).expect("JSON");
    assert_eq!(me, json!({ "username": "erin", "controller": ctl.url }));

    let app = unique("daily");
    ok(&["apps:create", &app, "--no-remote"]);
    ok(&[
        "config:set",
        "-a",
        &app,
        "GREETING=hello world",
        "QUOTE=it's $HOME; `x`",
        "PORT=5000",
    ]);
    assert_eq!(ok(&["config:get", "GREETING", "-a", &app]), "hello world\n");
    let missing = deis
        .command(&["config:get", "NOPE", "-a", &app])
        .output()
        .expect("deis runs");
    assert_eq!(missing.status.code(), Some(1));

    // config:pull writes a file a shell can source; pushing it back unchanged is no release.
    let env = deis.home.path().join("pulled.env");
    ok(&[
        "config:pull",
        "-a",
        &app,
        "--path",
        env.to_str().expect("path"),
    ]);
    let sourced = Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}'; printf '%s|%s|%s' \"$GREETING\" \"$QUOTE\" \"$PORT\"",
            env.display()
        ))
        .output()
        .expect("sh runs");
    assert_eq!(
        String::from_utf8_lossy(&sourced.stdout),
        "hello world|it's $HOME; `x`|5000"
    );
    let releases = |deis: &Deis| -> usize {
        let out = deis
            .command(&["--json", "releases", "-a", &app])
            .output()
            .expect("deis runs");
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("JSON")
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = releases(&deis);
    let pushed = ok(&[
        "config:push",
        "-a",
        &app,
        "--path",
        env.to_str().expect("path"),
    ]);
    assert!(pushed.contains("nothing to push"), "{pushed}");
    assert_eq!(
        releases(&deis),
        before,
        "an unchanged push makes no release"
    );

    // An app name guessed from the directory that names no app says so.
    let dir = deis.home.path().join("no-such-app-here");
    std::fs::create_dir(&dir).expect("mkdir");
    let out = deis
        .command(&["info"])
        .current_dir(&dir)
        .output()
        .expect("deis runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no app `no-such-app-here`") && stderr.contains("pass -a APP"),
        "{stderr}"
    );
}
