//! Black-box tests: the built `deis` binary against a real controller on a free port.
//!
//! Each test starts its own `deis-controller serve` (built from this workspace on first use)
//! with a fresh SQLite database, and runs `deis` with a temporary `HOME`, so no settings of
//! the person running the tests are read or written. Deploys need Docker and the image
//! `deis/test-app:latest`: CI builds it with `cargo xtask test-image` before the tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

/// The image the deploy steps use.
const TEST_IMAGE: &str = "deis/test-app:latest";

/// Path of the `deis` binary under test.
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
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building deis-controller failed");
        assert!(bin.exists(), "{} is missing after the build", bin.display());
        bin
    })
}

/// A name nobody else uses, for scheduler identities and app ids.
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

/// A running controller; stopped, and its containers removed, on drop.
struct Controller {
    child: Child,
    url: String,
    /// Port of the builder's SSH listener.
    builder_port: u16,
    identity: String,
    dir: TempDir,
}

impl Controller {
    fn start() -> Controller {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let identity = unique("deis-cli-test");
        let builder_port = free_port();
        let log = std::fs::File::create(dir.path().join("controller.log")).expect("log file");
        let child = Command::new(controller_bin())
            .arg("serve")
            .env("DEIS_BIND", format!("127.0.0.1:{port}"))
            .env("DEIS_ROUTER_BIND", format!("127.0.0.1:{}", free_port()))
            .env("DEIS_BUILDER_BIND", format!("127.0.0.1:{builder_port}"))
            .env(
                "DEIS_DATABASE_URL",
                format!("sqlite://{}/deis.db", dir.path().display()),
            )
            .env("DEIS_DATA_DIR", dir.path())
            .env("DEIS_SECRET_KEY", "cli-tests-secret-key-0123456789")
            .env("DEIS_BCRYPT_COST", "4")
            .env("DEIS_SCHEDULER_IDENTITY", &identity)
            .env("DEIS_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("deis-controller starts");
        let mut controller = Controller {
            child,
            url: format!("http://127.0.0.1:{port}"),
            builder_port,
            identity,
            dir,
        };
        controller.wait_healthy(port);
        controller
    }

    fn wait_healthy(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("deis-controller exited with {status}:\n{}", self.log());
            }
            if healthz(port) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("deis-controller did not answer /healthz:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("controller.log")).unwrap_or_default()
    }

    /// The release images this controller has on the engine.
    fn release_images(&self) -> Vec<String> {
        let reference = format!("reference=deis-release/{}/*", self.identity);
        Command::new("docker")
            .args(["images", "--filter", &reference])
            .args(["--format", "{{.Repository}}:{{.Tag}}"])
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let label = format!("label=deis.controller={}", self.identity);
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let images = self.release_images();
        if !images.is_empty() {
            let _ = Command::new("docker")
                .arg("rmi")
                .args(&images)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // Not `network prune`: the engine runs one prune at a time and refuses the others.
        if let Ok(out) = Command::new("docker")
            .args(["network", "ls", "-q", "--filter", &label])
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["network", "rm"])
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn healthz(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

/// One person at a shell: a home directory of their own and a working directory.
struct User {
    home: TempDir,
    cwd: PathBuf,
}

/// What one `deis` invocation did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl User {
    fn new() -> User {
        let home = tempfile::tempdir().expect("tempdir");
        let cwd = home.path().to_owned();
        User { home, cwd }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(deis_bin());
        cmd.args(args)
            .current_dir(&self.cwd)
            .env("HOME", self.home.path())
            .env_remove("DEIS_PROFILE")
            .env("DEIS_HIDE_PROGRESS", "1")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `deis args...` with standard input closed (never a terminal).
    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("deis runs"))
    }

    /// Runs `deis args...` and insists on success; returns standard output.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "deis {args:?} failed with {}:\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs `deis --json args...` and decodes the output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("deis {args:?}: {e}:\n{out}"))
    }

    fn settings(&self, name: &str) -> Value {
        let path = self.home.path().join(".deis").join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("settings are JSON")
    }

    fn register(&self, controller: &Controller, name: &str) {
        let out = self.ok(&[
            "register",
            &controller.url,
            &format!("--username={name}"),
            "--password=s3cret",
            &format!("--email={name}@example.com"),
        ]);
        assert!(out.contains(&format!("Registered {name}")), "{out}");
        assert!(out.contains(&format!("Logged in as {name}")), "{out}");
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn require_test_image() {
    let found = Command::new("docker")
        .args(["image", "inspect", TEST_IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{TEST_IMAGE} is missing: build it with `cargo xtask test-image` (CI does so first)"
    );
}

/// The acceptance walk of issue 5: everything a new user does, in the original syntax,
/// from a git repository so that the `deis` remote names the app.
#[test]
fn a_new_user_goes_from_register_to_cancel() {
    require_test_image();
    let controller = Controller::start();
    let mut user = User::new();
    let host = controller.url.trim_start_matches("http://").to_owned();

    // The first user administers the platform and may not leave; alice registers next.
    User::new().register(&controller, "root");
    // register (without a scheme, as people type it), log out, log in again.
    user.register(&controller, "alice");
    assert_eq!(
        user.settings("client.json")["controller"],
        Value::from(controller.url.clone())
    );
    assert!(user.ok(&["logout"]).contains("Logged out"));
    let out = user.ok(&["login", &host, "--username=alice", "--password=s3cret"]);
    assert!(out.contains("Logged in as alice"), "{out}");
    let session = user.settings("client.json");
    assert_eq!(session["username"], "alice");
    assert!(session["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(user.ok(&["auth:whoami"]), "alice\n");
    assert_eq!(
        user.json(&["whoami"]),
        serde_json::json!({"username": "alice", "controller": controller.url})
    );

    // create an app inside a git repository: the remote names it from then on.
    let app = unique("web").to_lowercase();
    let repo = user.home.path().join(&app);
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    user.cwd = repo.clone();
    let out = user.ok(&["apps:create", &app]);
    assert!(out.contains(&format!("done, created {app}")), "{out}");
    assert!(out.contains("Git remote deis added"), "{out}");
    assert_eq!(
        git(&repo, &["config", "--get", "remote.deis.url"]).trim(),
        format!("ssh://git@127.0.0.1:{}/{app}.git", controller.builder_port)
    );
    // git:remote writes the same remote under another name, and refuses to replace one.
    let out = user.ok(&["git:remote", "-r", "builder"]);
    assert!(out.contains("Git remote builder added"), "{out}");
    assert_eq!(
        git(&repo, &["config", "--get", "remote.builder.url"]).trim(),
        format!("ssh://git@127.0.0.1:{}/{app}.git", controller.builder_port)
    );
    git(
        &repo,
        &["remote", "set-url", "builder", "ssh://elsewhere/x.git"],
    );
    let refused = user.run(&["git:remote", "-r", "builder"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("--overwrite"), "{}", refused.stderr);
    user.ok(&["git:remote", "-r", "builder", "--overwrite"]);
    git(&repo, &["remote", "remove", "builder"]);
    assert!(user.ok(&["apps"]).contains(&app));
    let info = user.ok(&["apps:info"]);
    assert!(info.contains(&format!("=== {app} Application")), "{info}");

    // config: set (numbers stay numbers), unset, list.
    let out = user.ok(&["config:set", "GREETING=hello", "PORT=5000"]);
    assert!(out.contains("done, v2"), "{out}");
    assert!(out.contains(&format!("=== {app} Config")), "{out}");
    let out = user.ok(&["config:unset", "PORT"]);
    assert!(out.contains("done, v3"), "{out}");
    let values = user.json(&["config:list"]);
    assert_eq!(values, serde_json::json!({"GREETING": "hello"}));
    user.ok(&["config:set", "COUNT=3"]);
    assert_eq!(user.json(&["config"])["COUNT"], 3);

    // limits and tags, with the original flags.
    let out = user.ok(&["limits:set", "web=512M"]);
    assert!(out.contains("--- Memory") && out.contains("512M"), "{out}");
    let out = user.ok(&["limits:set", "--cpu", "web=512"]);
    assert!(out.contains("--- CPU"), "{out}");
    assert_eq!(
        user.json(&["limits"]),
        serde_json::json!({"memory": {"web": "512M"}, "cpu": {"web": 512}})
    );
    user.ok(&["limits:unset", "web"]);
    user.ok(&["limits:unset", "--cpu", "web"]);
    assert!(user.ok(&["limits:list"]).matches("Unlimited").count() == 2);
    let out = user.ok(&["tags:set", "environ=prod"]);
    assert!(out.contains("environ") && out.contains("prod"), "{out}");
    user.ok(&["tags:unset", "environ"]);
    assert!(user.ok(&["tags"]).contains("No tags defined"));

    // releases: list, info, roll back.
    let out = user.ok(&["releases"]);
    assert!(out.contains(&format!("=== {app} Releases")), "{out}");
    assert!(out.contains("created initial release"), "{out}");
    let out = user.ok(&["releases:rollback", "v2"]);
    assert!(out.contains("Rolling back to v2... done, v11"), "{out}");
    let out = user.ok(&["releases:info", "v11"]);
    assert!(out.contains("rolled back to v2"), "{out}");
    assert_eq!(
        user.json(&["config"]),
        serde_json::json!({"GREETING": "hello", "PORT": 5000})
    );

    // a domain and a key.
    let domain = format!("{app}.example.com");
    let out = user.ok(&["domains:add", &domain]);
    assert!(out.contains("done"), "{out}");
    assert!(user.ok(&["domains"]).contains(&domain));
    let ssh = user.home.path().join(".ssh");
    std::fs::create_dir(&ssh).expect("mkdir .ssh");
    let key_path = ssh.join("id_ed25519.pub");
    std::fs::write(
        &key_path,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1y9cA3FqJHcdVmEwTQ1ht7yDqWAPlnYDGiJhZQK9Cf alice@laptop\n",
    )
    .expect("write key");
    let out = user.ok(&["keys:add", key_path.to_str().expect("utf-8 path")]);
    assert!(
        out.contains("Uploading alice@laptop to deis... done"),
        "{out}"
    );
    let out = user.ok(&["keys"]);
    assert!(
        out.contains("=== alice Keys") && out.contains("alice@laptop"),
        "{out}"
    );

    // deploy, list processes, scale.
    let out = user.ok(&["builds:create", TEST_IMAGE]);
    assert!(out.contains("Creating build... done, v12"), "{out}");
    assert!(user.ok(&["builds"]).contains(TEST_IMAGE));
    let out = user.ok(&["ps"]);
    assert!(out.contains("cmd.1 up (v12)"), "{out}");
    let out = user.ok(&["ps:scale", "cmd=2"]);
    assert!(
        out.contains("cmd.1 up (v12)") && out.contains("cmd.2 up (v12)"),
        "{out}"
    );

    // run a command: output and exit code come back.
    let run = user.run(&["run", "echo $GREETING from $DEIS_APP; exit 3"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, format!("hello from {app}\n"));
    assert_eq!(user.run(&["apps:run", "true"]).code, 0);

    // logs, whole and tailed.
    let out = user.ok(&["logs"]);
    assert!(out.contains("deis[api]"), "{out}");
    let tail = user.json(&["apps:logs", "-n", "2"]);
    assert_eq!(tail.as_array().map(Vec::len), Some(2));

    // config:pull writes .env, config:push reads it back.
    user.ok(&["config:pull"]);
    let env = std::fs::read_to_string(repo.join(".env")).expect(".env");
    assert!(env.contains("GREETING=hello\n"), "{env}");
    std::fs::write(repo.join(".env"), format!("{env}EXTRA=1\n")).expect("write .env");
    user.ok(&["config:push"]);
    assert_eq!(user.json(&["config"])["EXTRA"], 1);

    // destroy the app (its remote goes too), then the account.
    let out = user.ok(&["apps:destroy", &format!("--confirm={app}")]);
    assert!(out.contains(&format!("Destroying {app}... done")), "{out}");
    assert!(out.contains("Git remote deis removed"), "{out}");
    assert_eq!(
        controller.release_images(),
        Vec::<String>::new(),
        "destroying the app removed its release images"
    );
    let out = user.ok(&["auth:cancel", "--password=s3cret", "--yes"]);
    assert!(out.contains("Account cancelled"), "{out}");
    assert_eq!(user.settings("client.json")["token"], Value::Null);
    let run = user.run(&["login", &host, "--username=alice", "--password=s3cret"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
}

/// A wrong password is refused with the controller's message and exit code 1.
#[test]
fn a_wrong_password_is_refused() {
    let controller = Controller::start();
    let user = User::new();
    user.register(&controller, "bob");
    let run = user.run(&[
        "login",
        &controller.url,
        "--username=bob",
        "--password=wrong",
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.trim(),
        "Error: Login failed: Unable to log in with provided credentials. (400 Bad Request)"
    );
    // The session of the earlier, successful login is kept.
    assert_eq!(user.settings("client.json")["username"], "bob");
    // Registering the same name twice explains why it failed.
    let run = user.run(&[
        "register",
        &controller.url,
        "--username=bob",
        "--password=x",
        "--email=",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Registration failed: username:"),
        "{}",
        run.stderr
    );
}

/// An app that does not exist (or is not visible) is a one-line 404 naming the app.
#[test]
fn an_unknown_app_is_a_readable_404() {
    let controller = Controller::start();
    let user = User::new();
    user.register(&controller, "carol");
    for args in [
        &["apps:info", "-a", "ghost"][..],
        &["config:set", "A=1", "--app=ghost"][..],
        &["ps:scale", "web=1", "-a", "ghost"][..],
        &["apps:destroy", "--app=ghost", "--confirm=ghost"][..],
    ] {
        let run = user.run(args);
        assert_eq!(run.code, 1, "{args:?}");
        assert_eq!(
            run.stderr.trim(),
            "Error: Not found (404 Not Found, app \"ghost\")",
            "{args:?}"
        );
    }
}

/// Without a controller the client says so in one line and exits 1.
#[test]
fn no_reachable_controller_is_a_network_error() {
    let user = User::new();
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = user.run(&["login", &url, "--username=u", "--password=p"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(&format!(
            "Error: Login failed: could not reach the controller at {url}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    // Nothing is stored for a login that failed.
    assert!(!user.home.path().join(".deis/client.json").exists());
    let run = user.run(&["apps"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Not logged in"), "{}", run.stderr);
}

/// Usage errors exit 2 with a helpful message; prompts never wait on a closed stdin.
#[test]
fn usage_errors_exit_2_and_prompts_never_hang() {
    let controller = Controller::start();
    let user = User::new();
    user.register(&controller, "dave");
    user.ok(&["apps:create", "prompted", "--no-remote"]);
    for (args, expected) in [
        (&["apps:bogus"][..], "unrecognized subcommand"),
        (&["config:set"][..], "required"),
        (
            &["config:set", "FOO", "-a", "prompted"][..],
            "expected KEY=VALUE",
        ),
        (
            &["ps:scale", "web=two", "-a", "prompted"][..],
            "expected type=N",
        ),
        (
            &["releases:rollback", "two", "-a", "prompted"][..],
            "not a release version",
        ),
        (
            &["builds:create", "deis/test-app", "-a", "prompted"][..],
            "must include its tag",
        ),
        (
            &["login", &controller.url, "--username=dave"][..],
            "pass --password",
        ),
        (
            &["apps:destroy", "-a", "prompted"][..],
            "pass --confirm=prompted",
        ),
        (&["auth:cancel", "--password=s3cret"][..], "pass --yes"),
        (&["keys:add"][..], "pass the key's path"),
    ] {
        let started = Instant::now();
        let run = user.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} waited"
        );
    }
    // Nothing was destroyed or cancelled.
    assert!(user.ok(&["apps"]).contains("prompted"));
    // Help explains commands and exits 0.
    let out = user.ok(&["help", "apps:create"]);
    assert!(out.contains("--no-remote"), "{out}");
    let out = user.ok(&["config:set", "--help"]);
    assert!(out.contains("KEY=VALUE"), "{out}");
    assert!(user.ok(&["help"]).contains("Subcommands"));
}

/// `DEIS_PROFILE` keeps a second session in `~/.deis/<profile>.json`.
#[test]
fn profiles_keep_separate_sessions() {
    let controller = Controller::start();
    let user = User::new();
    user.register(&controller, "erin");
    let run = Run::from(
        user.command(&[
            "login",
            &controller.url,
            "--username=erin",
            "--password=s3cret",
        ])
        .env("DEIS_PROFILE", "staging")
        .output()
        .expect("deis runs"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(user.settings("staging.json")["username"], "erin");
    user.ok(&["logout"]);
    assert!(user.run(&["whoami"]).stderr.contains("Not logged in"));
    let run = Run::from(
        user.command(&["whoami"])
            .env("DEIS_PROFILE", "staging")
            .output()
            .expect("deis runs"),
    );
    assert_eq!(run.stdout, "erin\n");
}

/// Lists longer than a page (100) are read to the end; outside a git repository the
/// directory name is the app.
#[test]
fn lists_follow_every_page_and_the_directory_names_the_app() {
    let controller = Controller::start();
    let mut user = User::new();
    user.register(&controller, "frank");
    for i in 0..105 {
        user.ok(&["apps:create", &format!("page-app-{i:03}"), "--no-remote"]);
    }
    let apps = user.json(&["apps:list"]);
    let ids: Vec<&str> = apps
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 105);
    assert!(ids.contains(&"page-app-000") && ids.contains(&"page-app-104"));
    let out = user.ok(&["apps"]);
    assert_eq!(out.lines().count(), 106, "{out}");

    let dir = user.home.path().join("page-app-007");
    std::fs::create_dir(&dir).expect("mkdir");
    user.cwd = dir;
    let out = user.ok(&["config:set", "FROM_DIR=yes"]);
    assert!(out.contains("=== page-app-007 Config"), "{out}");
}

/// A test certificate file (made for the API tests, valid until 2126).
fn fixture(name: &str) -> String {
    format!(
        "{}/../testkit/fixtures/tls/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The commands of the 1.13 client: restart, certificates, token regeneration, transfer, the
/// users list, and an administrator's password reset and cancellation of another user.
#[test]
fn v17_commands_restart_transfer_and_administer_users() {
    require_test_image();
    let controller = Controller::start();
    let admin = User::new();
    admin.register(&controller, "root");
    let bob = User::new();
    bob.register(&controller, "bob");
    let carol = User::new();
    carol.register(&controller, "carol");
    let out = admin.ok(&["users:list"]);
    assert_eq!(out, "=== Users\nroot\nbob\ncarol\n");
    let run = bob.run(&["users"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("(403 Forbidden)"), "{}", run.stderr);

    // ps:restart: all, one type, one process; the processes are listed afterwards.
    let app = unique("restart").to_lowercase();
    bob.ok(&["apps:create", &app, "--no-remote"]);
    bob.ok(&["builds:create", TEST_IMAGE, "-a", &app]);
    let out = bob.ok(&["ps:restart", "-a", &app]);
    assert!(out.contains("Restarting processes... done in"), "{out}");
    assert!(out.contains("cmd.1 up (v2)"), "{out}");
    assert!(
        bob.ok(&["ps:restart", "cmd", "-a", &app])
            .contains("cmd.1 up (v2)")
    );
    assert!(
        bob.ok(&["ps:restart", "cmd.1", "-a", &app])
            .contains("cmd.1 up (v2)")
    );
    let run = bob.run(&["ps:restart", "cmd.9", "-a", &app]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Not found (404 Not Found"),
        "{}",
        run.stderr
    );
    assert_eq!(bob.run(&["ps:restart", "cmd.x", "-a", &app]).code, 2);

    // certs: add (the certificate's own name, then another it covers), list, info, remove.
    let (cert, key) = (fixture("example.com.crt"), fixture("example.com.key"));
    assert!(
        bob.ok(&["certs:add", &cert, &key])
            .contains("Adding SSL endpoint... done")
    );
    bob.ok(&["certs:add", &cert, &key, "--common-name=www.example.com"]);
    let out = bob.ok(&["certs:list"]);
    assert!(out.starts_with("Common Name      Expires\n"), "{out}");
    assert!(
        out.contains("example.com      2126-11-08T12:29:55UTC"),
        "{out}"
    );
    assert!(
        out.contains("www.example.com  2126-11-08T12:29:55UTC"),
        "{out}"
    );
    let info = bob.json(&["certs:info", "example.com"]);
    assert_eq!(info["owner"], "bob");
    assert!(!info.to_string().contains("PRIVATE"));
    let run = bob.run(&["certs:add", &cert, &fixture("other.key")]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("key: The private key does not match the certificate"),
        "{}",
        run.stderr
    );
    assert!(
        bob.ok(&["certs:remove", "www.example.com"])
            .contains("Removing www.example.com... done")
    );
    assert_eq!(carol.ok(&["certs"]), "No certs\n");

    // auth:regenerate: the new token is stored; an administrator's revokes bob's.
    let before = bob.settings("client.json")["token"].clone();
    assert!(bob.ok(&["auth:regenerate"]).contains("Token regenerated"));
    assert_ne!(bob.settings("client.json")["token"], before);
    bob.ok(&["apps"]);
    admin.ok(&["auth:regenerate", "--username=bob"]);
    assert_eq!(bob.run(&["apps"]).code, 1);
    bob.ok(&[
        "login",
        &controller.url,
        "--username=bob",
        "--password=s3cret",
    ]);

    // apps:transfer: carol owns the app now.
    let out = bob.ok(&["apps:transfer", "carol", "-a", &app]);
    assert!(
        out.contains(&format!("Transferring {app} to carol... done")),
        "{out}"
    );
    assert!(!bob.ok(&["apps"]).contains(&app));
    assert!(carol.ok(&["apps"]).contains(&app));

    // An administrator resets carol's password without the old one.
    let out = admin.ok(&["auth:passwd", "--username=carol", "--new-password=fresh"]);
    assert!(out.contains("Password change succeeded."), "{out}");
    assert_eq!(carol.run(&["apps"]).code, 1, "carol's token was revoked");
    carol.ok(&[
        "login",
        &controller.url,
        "--username=carol",
        "--password=fresh",
    ]);

    // Cancelling another account: never a non-administrator, never while they own apps, and
    // never the administrator in their place.
    let run = bob.run(&["auth:cancel", "--username=root", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("(403 Forbidden)"), "{}", run.stderr);
    let run = admin.run(&["auth:cancel", "--username=carol", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("carol still has applications assigned"),
        "{}",
        run.stderr
    );
    carol.ok(&["apps:destroy", "-a", &app, &format!("--confirm={app}")]);
    assert_eq!(controller.release_images(), Vec::<String>::new());
    assert!(
        admin
            .ok(&["auth:cancel", "--username=carol", "--yes"])
            .contains("Account cancelled")
    );
    assert_eq!(admin.ok(&["users:list"]), "=== Users\nroot\nbob\n");
    assert_eq!(admin.settings("client.json")["username"], "root");
    assert_eq!(carol.run(&["apps"]).code, 1);
}

/// The README's push: a real ed25519 key added with `keys:add`, `create` writing the remote
/// the controller announces, `git push deis master`, and the pushed code running.
#[test]
fn a_user_pushes_code_through_the_remote_the_cli_wrote() {
    require_test_image();
    let controller = Controller::start();
    let mut user = User::new();
    user.register(&controller, "pusher");
    let key = user.home.path().join("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "pusher", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(made.status.success(), "ssh-keygen: {made:?}");
    let out = user.ok(&["keys:add", &format!("{}.pub", key.display())]);
    assert!(out.contains("done"), "{out}");

    let app = unique("pushed").to_lowercase();
    let repo = user.home.path().join(&app);
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "--initial-branch=master"]);
    git(&repo, &["config", "user.email", "pusher@example.com"]);
    git(&repo, &["config", "user.name", "Pusher"]);
    let greeting = unique("pushed-greeting");
    std::fs::write(
        repo.join("Dockerfile"),
        format!("FROM {TEST_IMAGE}\nENV GREETING={greeting}\n"),
    )
    .expect("Dockerfile");
    git(&repo, &["add", "Dockerfile"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    user.cwd = repo.clone();
    user.ok(&["create", &app]);

    let ssh = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
         -o UserKnownHostsFile={}",
        key.display(),
        user.home.path().join("known_hosts").display()
    );
    let pushed = Command::new("git")
        .args(["push", "deis", "master"])
        .current_dir(&repo)
        .env("GIT_SSH_COMMAND", ssh)
        .stdin(Stdio::null())
        .output()
        .expect("git push");
    let said = String::from_utf8_lossy(&pushed.stderr).into_owned();
    assert!(pushed.status.success(), "git push: {said}");
    assert!(said.contains("done, v2"), "{said}");
    let out = user.ok(&["run", "echo $GREETING"]);
    assert!(out.contains(&greeting), "{out}");
}
