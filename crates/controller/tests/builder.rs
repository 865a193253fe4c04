//! The builder end to end: the real `deis-controller` binary with its SSH builder, the real
//! Docker engine, and the real `git` and `ssh` clients pushing as users do.
//!
//! Each test runs its own controller (free ports, its own data directory and database, its
//! own `DEIS_SCHEDULER_IDENTITY`) and removes what it made: containers carrying its identity,
//! its release images (which are the built images) and its network. Broken Dockerfiles fail
//! in their first step after `FROM`, so a failed build leaves no layer behind.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const IMAGE: &str = "deis/test-app:latest";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xfffff)
}

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
        thread::sleep(Duration::from_millis(100));
    }
}

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

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One test's identity and directory; removes what the test made on the engine.
struct World {
    identity: String,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        assert!(
            docker_try(&["image", "inspect", IMAGE]).is_ok(),
            "{IMAGE} is missing: run `cargo xtask test-image` first"
        );
        Self {
            identity: unique("builder"),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// This controller's built images: the ones labelled with its identity.
    fn built_images(&self) -> BTreeSet<String> {
        let label = format!("label=deis.controller={}", self.identity);
        lines(&docker_try(&["images", "-q", "--no-trunc", "--filter", &label]).unwrap_or_default())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let label = format!("label=deis.controller={}", self.identity);
        let containers = lines(&docker_try(&["ps", "-aq", "--filter", &label]).unwrap_or_default());
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(containers.iter().map(String::as_str));
            let _ = docker_try(&args);
        }
        let reference = format!("reference=deis-release/{}/*", self.identity);
        let tags = lines(
            &docker_try(&[
                "images",
                "--filter",
                &reference,
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ])
            .unwrap_or_default(),
        );
        if !tags.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(tags.iter().map(String::as_str));
            if let Err(e) = docker_try(&args) {
                eprintln!("cleanup: {e}");
            }
        }
        let built = self.built_images();
        if !built.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(built.iter().map(String::as_str));
            if let Err(e) = docker_try(&args) {
                eprintln!("cleanup: {e}");
            }
        }
        let networks =
            lines(&docker_try(&["network", "ls", "-q", "--filter", &label]).unwrap_or_default());
        if !networks.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(networks.iter().map(String::as_str));
            let _ = docker_try(&args);
        }
    }
}

/// A running `deis-controller serve` with its builder, killed on drop.
struct Controller {
    child: Child,
    base: String,
    ssh_port: u16,
    log: PathBuf,
    http: Client,
}

impl Controller {
    fn start(world: &World, ssh_port: u16, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = world.path(&format!("controller-{port}.log"));
        let out = File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deis-controller"));
        cmd.arg("serve")
            .env_remove("DEIS_CONFIG")
            .env_remove("DOCKER_HOST")
            .env("DEIS_BIND", format!("127.0.0.1:{port}"))
            .env("DEIS_ROUTER_BIND", "")
            .env("DEIS_BUILDER_BIND", format!("127.0.0.1:{ssh_port}"))
            // Relative, as the default `data` is: git runs the hook inside a repository.
            .current_dir(world.path(""))
            .env("DEIS_DATA_DIR", "data")
            .env("DEIS_DOMAIN", "localhost")
            .env("DEIS_SECRET_KEY", "builder-secret-key-of-enough-length")
            .env("DEIS_SCHEDULER_IDENTITY", &world.identity)
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
            ssh_port,
            log,
            http: Client::builder()
                .timeout(Duration::from_secs(180))
                .build()
                .expect("http client"),
        };
        let health = format!("{}/healthz", controller.base);
        wait_for("the controller to answer", Duration::from_secs(30), || {
            if let Ok(Some(status)) = controller.child.try_wait() {
                panic!(
                    "deis-controller exited ({status}):\n{}",
                    controller.output()
                );
            }
            let ok = controller
                .http
                .get(&health)
                .send()
                .ok()?
                .status()
                .is_success();
            let ssh = std::net::TcpStream::connect(("127.0.0.1", ssh_port)).is_ok();
            (ok && ssh).then_some(())
        });
        controller
    }

    fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Registers and logs a user in, and registers a fresh ed25519 key of theirs.
    fn user(&self, world: &World, username: &str) -> User {
        let form = [("username", username), ("password", "builder-password")];
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
        let user = User {
            base: self.base.clone(),
            http: self.http.clone(),
            token: body["token"].as_str().expect("a token").to_owned(),
            key: keygen(world, username),
        };
        let public = std::fs::read_to_string(user.key.with_extension("pub")).expect("public key");
        let (status, body) = user.post(
            "/v1/keys",
            json!({ "id": format!("{username}@laptop"), "public": public.trim() }),
        );
        assert_eq!(status, StatusCode::CREATED, "add key: {body}");
        user
    }

    /// The builder's ed25519 host key line, as `ssh-keyscan` reads it.
    fn host_key(&self) -> String {
        let out = Command::new("ssh-keyscan")
            .args([
                "-t",
                "ed25519",
                "-p",
                &self.ssh_port.to_string(),
                "127.0.0.1",
            ])
            .output()
            .expect("ssh-keyscan");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains("ssh-ed25519"))
            .unwrap_or_else(|| panic!("no host key: {}", String::from_utf8_lossy(&out.stderr)));
        line.split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn remote(&self, app: &str) -> String {
        format!("ssh://git@127.0.0.1:{}/{app}.git", self.ssh_port)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("---- deis-controller output ----\n{}", self.output());
        }
    }
}

/// A fresh ed25519 key pair in the world's directory; answers the private key's path.
fn keygen(world: &World, name: &str) -> PathBuf {
    let key = world.path(&format!("{name}_ed25519"));
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    key
}

/// An authenticated API client with an SSH key.
struct User {
    base: String,
    http: Client,
    token: String,
    key: PathBuf,
}

impl User {
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("token {}", self.token));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = res.status();
        let text = res.text().expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None);
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body))
    }

    /// `echo $name` in a one-off container of the app's current release.
    fn echo(&self, app: &str, name: &str) -> String {
        let (status, body) = self.post(
            &format!("/v1/apps/{app}/run"),
            json!({ "command": format!("echo ${name}") }),
        );
        assert_eq!(status, StatusCode::OK, "run: {body}");
        assert_eq!(body[0], 0, "run: {body}");
        body[1].as_str().expect("output").trim().to_owned()
    }

    fn versions(&self, app: &str) -> Vec<i64> {
        self.get(&format!("/v1/apps/{app}/releases"))["results"]
            .as_array()
            .expect("releases")
            .iter()
            .map(|r| r["version"].as_i64().expect("version"))
            .collect()
    }
}

/// A working tree of an app's source.
struct Source {
    dir: PathBuf,
}

impl Source {
    fn new(world: &World, name: &str) -> Self {
        let dir = world.path(name);
        std::fs::create_dir_all(&dir).expect("source directory");
        let source = Self { dir };
        source.git(&["init", "--quiet", "--initial-branch=master"]);
        source.git(&["config", "user.email", "dev@example.com"]);
        source.git(&["config", "user.name", "Dev"]);
        source
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes the files and commits them; answers the commit.
    fn commit(&self, files: &[(&str, &str)]) -> String {
        for (name, text) in files {
            std::fs::write(self.dir.join(name), text).expect("write a source file");
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", "change"]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// `git args...` in `dir` over SSH with `key`, trusting the builder's host key on first use
/// and checking it afterwards (the known hosts file lives in the world).
fn git_ssh(world: &World, dir: &Path, key: &Path, args: &[&str]) -> Output {
    let ssh = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
         -o UserKnownHostsFile={}",
        key.display(),
        world.path("known_hosts").display()
    );
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_SSH_COMMAND", ssh)
        .stdin(Stdio::null())
        .output()
        .expect("git")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn dockerfile(greeting: &str) -> String {
    format!("FROM {IMAGE}\nENV GREETING={greeting}\n")
}

#[test]
fn pushes_build_deploy_roll_and_refuse() {
    let world = World::new();
    let ctl = Controller::start(&world, free_port(), &[]);
    let alice = ctl.user(&world, "alice");
    let bob = ctl.user(&world, "bob");
    let app = unique("push");
    let (status, body) = alice.post("/v1/apps", json!({ "id": app }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let remote = ctl.remote(&app);
    let source = Source::new(&world, "source");

    // First push: built, recorded with the pushed sha, deployed, and the new code runs.
    let first = source.commit(&[("Dockerfile", &dockerfile("hello-one"))]);
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", &remote, "master"],
    );
    let said = text(&pushed);
    assert!(pushed.status.success(), "push: {said}");
    for line in [
        "remote: -----> Building Docker image",
        "remote: -----> Launching...",
        "remote:        done, v2",
        &format!("remote:        http://{app}.localhost"),
    ] {
        assert!(said.contains(line), "{line:?} missing from:\n{said}");
    }
    let builds = alice.get(&format!("/v1/apps/{app}/builds"));
    assert_eq!(builds["count"], 1, "{builds}");
    assert_eq!(builds["results"][0]["sha"], first.as_str());
    assert_eq!(builds["results"][0]["dockerfile"], dockerfile("hello-one"));
    let release = alice.get(&format!("/v1/apps/{app}/releases/v2"));
    assert_eq!(
        release["summary"],
        format!("alice deployed {}", &first[..7]),
        "{release}"
    );
    assert_eq!(alice.echo(&app, "GREETING"), "hello-one");

    // A second push rolls the app to the new code; its Procfile is recorded.
    let second = source.commit(&[
        ("Dockerfile", &dockerfile("hello-two")),
        ("Procfile", "web: start\n"),
    ]);
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", &remote, "master"],
    );
    assert!(pushed.status.success(), "push: {}", text(&pushed));
    assert!(text(&pushed).contains("done, v3"), "{}", text(&pushed));
    let builds = alice.get(&format!("/v1/apps/{app}/builds"));
    assert_eq!(builds["results"][0]["sha"], second.as_str());
    assert_eq!(builds["results"][0]["procfile"], json!({ "web": "start" }));
    assert_eq!(alice.echo(&app, "GREETING"), "hello-two");

    // A stranger's key is refused, for pushes and clones alike, and nothing is written.
    let pushed = git_ssh(&world, &source.dir, &bob.key, &["push", &remote, "master"]);
    assert!(!pushed.status.success(), "bob pushed: {}", text(&pushed));
    assert!(
        text(&pushed).contains(&format!("bob may not use app {app}")),
        "{}",
        text(&pushed)
    );
    let cloned = git_ssh(
        &world,
        world.dir.path(),
        &bob.key,
        &["clone", &remote, "bobs"],
    );
    assert!(!cloned.status.success(), "bob cloned: {}", text(&cloned));
    assert_eq!(alice.versions(&app), vec![3, 2, 1]);

    // Bob's own app may not build from alice's release image, nor from an image the engine
    // does not hold; both are refused before anything is built.
    let bobs_app = unique("bob");
    let (status, body) = bob.post("/v1/apps", json!({ "id": bobs_app }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bobs = Source::new(&world, "bobs-source");
    let theirs = format!("deis-release/{}/{app}:v3", world.identity);
    for (base, why) in [
        (theirs.as_str(), "is a release of an app you cannot access"),
        ("nosuch/base-image:1", "has no image nosuch/base-image:1"),
    ] {
        bobs.commit(&[(
            "Dockerfile",
            &format!("FROM {base}\nRUN cat /etc/hostname\n"),
        )]);
        let pushed = git_ssh(
            &world,
            &bobs.dir,
            &bob.key,
            &["push", &ctl.remote(&bobs_app), "master"],
        );
        assert!(!pushed.status.success(), "{base}: {}", text(&pushed));
        assert!(text(&pushed).contains(why), "{base}: {}", text(&pushed));
    }
    assert_eq!(bob.versions(&bobs_app), vec![1]);

    // A Dockerfile whose RUN fails fails the push: no build, no release, no ref moved, no
    // layer of its steps left on the engine, and the running release still runs the old code.
    let marker = format!("MARKER={}", unique("layer"));
    let broken = source.commit(&[(
        "Dockerfile",
        &format!("FROM {IMAGE}\nENV {marker}\nRUN exit 7\n"),
    )]);
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", &remote, "master"],
    );
    let said = text(&pushed);
    assert!(!pushed.status.success(), "broken push succeeded: {said}");
    assert!(said.contains("non-zero code: 7"), "{said}");
    assert!(said.contains("pre-receive hook declined"), "{said}");
    let since = docker_try(&["images", "-a", "-q", "--filter", &format!("since={IMAGE}")])
        .unwrap_or_default();
    for id in lines(&since) {
        let env = docker_try(&["image", "inspect", "--format", "{{json .Config.Env}}", &id])
            .unwrap_or_default();
        assert!(
            !env.contains(&marker),
            "layer {id} of the failed build was left"
        );
    }
    assert_eq!(alice.versions(&app), vec![3, 2, 1]);
    assert_eq!(alice.get(&format!("/v1/apps/{app}/builds"))["count"], 2);
    let refs = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["ls-remote", &remote, "master"],
    );
    assert!(
        text(&refs).starts_with(&second),
        "{} / {broken}",
        text(&refs)
    );
    assert_eq!(alice.echo(&app, "GREETING"), "hello-two");

    // No Dockerfile at all is refused with the reason.
    source.git(&["rm", "--quiet", "Dockerfile"]);
    source.git(&["commit", "--quiet", "-m", "no dockerfile"]);
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", &remote, "master"],
    );
    assert!(!pushed.status.success(), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("has no Dockerfile"),
        "{}",
        text(&pushed)
    );

    // A fixed push deploys again; then a force-push of an older commit deploys that one.
    source.commit(&[("Dockerfile", &dockerfile("hello-fixed"))]);
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", &remote, "master"],
    );
    assert!(pushed.status.success(), "fixed push: {}", text(&pushed));
    assert_eq!(alice.echo(&app, "GREETING"), "hello-fixed");
    let older = format!("{first}:refs/heads/master");
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", "--force", &remote, &older],
    );
    assert!(pushed.status.success(), "force push: {}", text(&pushed));
    assert_eq!(alice.echo(&app, "GREETING"), "hello-one");
    assert_eq!(alice.versions(&app)[0], 5);

    // The app destroyed, its repository goes too.
    let repo = world.path("data").join("repos").join(format!("{app}.git"));
    assert!(repo.join("HEAD").exists());
    let (status, body) = alice.send(reqwest::Method::DELETE, &format!("/v1/apps/{app}"), None);
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    wait_for(
        "the repository to be removed",
        Duration::from_secs(30),
        || (!repo.exists()).then_some(()),
    );
}

#[test]
fn the_host_key_survives_a_restart_and_wrong_keys_are_throttled() {
    let world = World::new();
    let port = free_port();
    let ctl = Controller::start(&world, port, &[("DEIS_THROTTLE_FAILURES", "10")]);
    let alice = ctl.user(&world, "alice");
    let app = unique("keys");
    let (status, body) = alice.post("/v1/apps", json!({ "id": app }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let host_key = ctl.host_key();
    let remote = ctl.remote(&app);
    let ls = git_ssh(
        &world,
        world.dir.path(),
        &alice.key,
        &["ls-remote", &remote],
    );
    assert!(ls.status.success(), "ls-remote: {}", text(&ls));
    drop(ctl);

    let ctl = Controller::start(&world, port, &[("DEIS_THROTTLE_FAILURES", "10")]);
    assert_eq!(ctl.host_key(), host_key);
    // The known hosts file holds the first start's key; StrictHostKeyChecking would refuse
    // another one.
    let ls = git_ssh(
        &world,
        world.dir.path(),
        &alice.key,
        &["ls-remote", &remote],
    );
    assert!(ls.status.success(), "after restart: {}", text(&ls));

    // No shell, no other command, no other user.
    let ssh = |user: &str, command: &[&str]| {
        let out = Command::new("ssh")
            .args([
                "-i",
                alice.key.to_str().expect("path"),
                "-p",
                &ctl.ssh_port.to_string(),
            ])
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                world.path("known_hosts").display()
            ))
            .arg(format!("{user}@127.0.0.1"))
            .args(command)
            .stdin(Stdio::null())
            .output()
            .expect("ssh");
        (out.status.code(), text(&out))
    };
    let (code, said) = ssh("git", &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("Hi alice!") && said.contains("no shell"),
        "{said}"
    );
    let (code, said) = ssh("git", &["cat", "/etc/passwd"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("runs only git-receive-pack and git-upload-pack"),
        "{said}"
    );
    let (code, said) = ssh("root", &["git-upload-pack", &format!("'/{app}.git'")]);
    assert_eq!(code, Some(255), "{said}");
    assert!(said.contains("Permission denied"), "{said}");

    // A client offering an unknown key before the right one is not a wrong key: more
    // connections like that than throttle_failures all get in.
    let stranger = keygen(&world, "stranger");
    for _ in 0..12 {
        let ssh = format!(
            "ssh -i {} -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={}",
            stranger.display(),
            alice.key.display(),
            world.path("known_hosts").display()
        );
        let out = Command::new("git")
            .args(["ls-remote", &remote])
            .env("GIT_SSH_COMMAND", ssh)
            .stdin(Stdio::null())
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "two keys, the second right: {}",
            text(&out)
        );
    }

    // Wrong keys from one address: after throttle_failures of them even the right key is
    // refused, and the client is told why.
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let (world_dir, key, remote) = (
                world.dir.path().to_owned(),
                stranger.clone(),
                remote.clone(),
            );
            let known = world.path("known_hosts");
            thread::spawn(move || {
                let ssh = format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={}",
                    key.display(),
                    known.display()
                );
                Command::new("git")
                    .args(["ls-remote", &remote])
                    .current_dir(world_dir)
                    .env("GIT_SSH_COMMAND", ssh)
                    .stdin(Stdio::null())
                    .output()
                    .expect("git")
            })
        })
        .collect();
    for attempt in attempts {
        let out = attempt.join().expect("attempt");
        assert!(!out.status.success(), "a wrong key got in: {}", text(&out));
    }
    // Failed connections are counted as they close, so allow the last counts to land.
    let refused = wait_for(
        "the address to be throttled",
        Duration::from_secs(10),
        || {
            let ls = git_ssh(
                &world,
                world.dir.path(),
                &alice.key,
                &["ls-remote", &remote],
            );
            (!ls.status.success()).then(|| text(&ls))
        },
    );
    assert!(
        refused.contains("Too many failed builder keys"),
        "{refused}"
    );
}

#[test]
fn concurrent_pushes_deploy_in_order_and_big_pushes_are_capped() {
    let world = World::new();
    let ctl = Controller::start(
        &world,
        free_port(),
        &[
            ("DEIS_MAX_REPO_SIZE", "400000"),
            ("DEIS_MAX_BUILD_CONTEXT", "100000"),
        ],
    );
    let alice = ctl.user(&world, "alice");
    let (one, two) = (unique("one"), unique("two"));
    for app in [&one, &two] {
        let (status, body) = alice.post("/v1/apps", json!({ "id": app }));
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // Two apps build at once; two divergent force-pushes of one app go one after the other,
    // and the app runs the commit its master ends up at.
    let first = Source::new(&world, "first");
    first.commit(&[("Dockerfile", &dockerfile("first"))]);
    let second = Source::new(&world, "second");
    second.commit(&[("Dockerfile", &dockerfile("second"))]);
    let pushes: Vec<_> = [(&first, &one), (&first, &two), (&second, &two)]
        .into_iter()
        .map(|(source, app)| {
            let (dir, key, remote) = (source.dir.clone(), alice.key.clone(), ctl.remote(app));
            let known = world.path("known_hosts");
            thread::spawn(move || {
                let ssh = format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
                 -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={}",
                    key.display(),
                    known.display()
                );
                Command::new("git")
                    .args(["push", "--force", &remote, "master"])
                    .current_dir(dir)
                    .env("GIT_SSH_COMMAND", ssh)
                    .stdin(Stdio::null())
                    .output()
                    .expect("git")
            })
        })
        .collect();
    for push in pushes {
        let out = push.join().expect("push");
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(alice.echo(&one, "GREETING"), "first");
    assert_eq!(alice.versions(&two), vec![3, 2, 1]);
    let head = git_ssh(
        &world,
        &first.dir,
        &alice.key,
        &["ls-remote", &ctl.remote(&two), "master"],
    );
    let head = text(&head);
    let latest = alice.get(&format!("/v1/apps/{two}/builds"))["results"][0]["sha"]
        .as_str()
        .expect("sha")
        .to_owned();
    assert!(
        head.starts_with(&latest),
        "master {head} but the latest build is {latest}"
    );
    let expected = if latest == second.git(&["rev-parse", "HEAD"]) {
        "second"
    } else {
        "first"
    };
    assert_eq!(alice.echo(&two, "GREETING"), expected);

    // A commit whose archive is over max_build_context fails the push; a push whose pack
    // would take the repository over max_repo_size is refused by git. Neither deploys.
    let noise = |len: usize, seed: u64| -> String {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'!' + ((state >> 33) % 90) as u8)
            })
            .collect()
    };
    first.commit(&[("noise.txt", &noise(150_000, 1))]);
    let pushed = git_ssh(
        &world,
        &first.dir,
        &alice.key,
        &["push", &ctl.remote(&one), "master"],
    );
    assert!(!pushed.status.success(), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("max_build_context"),
        "{}",
        text(&pushed)
    );
    first.commit(&[("noise.txt", &noise(600_000, 2))]);
    let pushed = git_ssh(
        &world,
        &first.dir,
        &alice.key,
        &["push", &ctl.remote(&one), "master"],
    );
    assert!(!pushed.status.success(), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("maximum allowed size"),
        "{}",
        text(&pushed)
    );
    assert_eq!(alice.versions(&one), vec![2, 1]);
}

#[test]
fn a_pushed_web_app_is_routed_and_one_that_never_answers_fails_its_push() {
    let world = World::new();
    let router = free_port();
    let ctl = Controller::start(
        &world,
        free_port(),
        &[
            ("DEIS_ROUTER_BIND", &format!("127.0.0.1:{router}")),
            ("DEIS_HEALTH_TIMEOUT", "5"),
        ],
    );
    let alice = ctl.user(&world, "alice");
    let app = unique("web");
    let (status, body) = alice.post("/v1/apps", json!({ "id": app }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let remote = ctl.remote(&app);
    let source = Source::new(&world, "web");
    let get = || {
        ctl.http
            .get(format!("http://127.0.0.1:{router}/"))
            .header("Host", format!("{app}.localhost"))
            .send()
            .map(|r| r.status())
    };

    // A Procfile with `web` scales the first build to web=1 behind the router's health gate;
    // the URL the push prints is where the router serves it.
    source.commit(&[
        ("Dockerfile", &dockerfile("web")),
        ("Procfile", "web: start\n"),
    ]);
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", &remote, "master"],
    );
    let said = text(&pushed);
    assert!(pushed.status.success(), "{said}");
    assert!(
        said.contains(&format!("http://{app}.localhost:{router}")),
        "{said}"
    );
    assert_eq!(get().expect("the router answers"), StatusCode::OK);
    let ps = alice.get(&format!("/v1/apps/{app}/containers"));
    assert_eq!(ps["count"], 1, "{ps}");
    assert_eq!(ps["results"][0]["type"], "web", "{ps}");

    // A web process that never answers fails the push: no release, the old one still serves.
    source.commit(&[("Procfile", "web: sleep 1000\n")]);
    let pushed = git_ssh(
        &world,
        &source.dir,
        &alice.key,
        &["push", &remote, "master"],
    );
    let said = text(&pushed);
    assert!(!pushed.status.success(), "{said}");
    assert!(said.contains("web.1 did not answer HTTP"), "{said}");
    assert!(said.contains("pre-receive hook declined"), "{said}");
    assert_eq!(alice.versions(&app), vec![2, 1]);
    assert_eq!(get().expect("the router answers"), StatusCode::OK);
}
