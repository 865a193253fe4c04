//! `cargo xtask bench`: API throughput and latency against a bare actix-web handler, listing
//! speed at 100 and 10,000 apps, and the controller's idle memory.
//!
//! Both servers are release builds on loopback; `wrk` (installed from Debian when missing)
//! drives 16 connections. Rounds alternate bare / controller so that drift of a shared machine
//! hits both alike; the medians are printed. Then the container operations of
//! `bench_deploy`, the router against nginx of `bench_router` and the network costs of
//! `bench_networks` (`--only` picks one part).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 8)]
    pub(crate) seconds: u32,
    /// Alternating rounds of the compared sides (bare handler and controller; router, nginx
    /// and the app directly).
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    pub(crate) connections: u32,
    /// Apps in the large listing measurement.
    #[arg(long, default_value_t = 10_000)]
    many_apps: usize,
    /// Only one part: `api` (throughput, listing, memory), `deploy` (container operations
    /// against the engine's own speed), `router` (proxying against nginx) or `networks` (what
    /// isolating apps costs); all when absent.
    #[arg(long, value_enum)]
    only: Option<Only>,
}

/// The parts of the bench.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Only {
    Api,
    Deploy,
    Router,
    Networks,
}

/// One wrk measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) rps: f64,
    /// Requests completed during the run.
    pub(crate) requests: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// A child process killed on drop.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_addr() -> anyhow::Result<String> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string())
}

pub(crate) fn wait_up(url: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if ureq::get(url).call().is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{url} did not come up")
}

pub(crate) fn ensure_wrk() -> anyhow::Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    let install = || {
        crate::run(
            Command::new("apt-get")
                .args(["install", "-y", "wrk"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        crate::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    Ok(())
}

/// Milliseconds from wrk's `12.34us` / `1.20ms` / `2.00s`.
fn millis(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// Runs wrk against `url` with extra `headers` (`Name: value`).
pub(crate) fn wrk(url: &str, headers: &[&str], args: &Args) -> anyhow::Result<Load> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{}", args.connections),
        &format!("-d{}s", args.seconds),
        "--latency",
    ]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    let out = cmd.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .map(|rest| rest.trim().to_owned())
        })
    };
    if let Some(errors) = field("Non-2xx or 3xx responses:") {
        bail!("{url} answered {errors} errors under load:\n{text}");
    }
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .context("wrk printed no Requests/sec")?;
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("wrk printed no request count")?;
    let p50 = field("50%")
        .and_then(|v| millis(&v))
        .context("wrk printed no 50%")?;
    let p99 = field("99%")
        .and_then(|v| millis(&v))
        .context("wrk printed no 99%")?;
    Ok(Load {
        rps,
        requests,
        p50_ms: p50,
        p99_ms: p99,
    })
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

struct Api {
    base: String,
    token: String,
}

impl Api {
    fn post(&self, path: &str, body: &Value) -> anyhow::Result<()> {
        ureq::post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("token {}", self.token))
            .send_json(body)
            .with_context(|| format!("POST {path}"))?;
        Ok(())
    }

    fn create_apps(&self, from: usize, to: usize) -> anyhow::Result<()> {
        for i in from..to {
            self.post(
                "/v1/apps",
                &serde_json::json!({ "id": format!("bench-{i:05}") }),
            )?;
        }
        Ok(())
    }
}

pub(crate) fn login(base: &str, username: &str) -> anyhow::Result<String> {
    let form = [("username", username), ("password", "bench-password")];
    ureq::post(&format!("{base}/v1/auth/register"))
        .send_form(form)
        .context("register")?;
    let mut res = ureq::post(&format!("{base}/v1/auth/login/"))
        .send_form(form)
        .context("login")?;
    let body: Value = res.body_mut().read_json().context("login body")?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token")
}

/// Runs the parts of the bench the options ask for.
pub(crate) fn run(root: &Path, args: &Args) -> anyhow::Result<()> {
    let part = |only: Only| args.only.is_none_or(|o| o == only);
    if part(Only::Api) {
        api(root, args)?;
    }
    if part(Only::Deploy) {
        crate::bench_deploy::run(root)?;
    }
    if part(Only::Router) {
        crate::bench_router::run(root, args)?;
    }
    if part(Only::Networks) {
        crate::bench_networks::run(root)?;
    }
    Ok(())
}

/// Builds both servers in release mode and prints the API figures.
fn api(root: &Path, args: &Args) -> anyhow::Result<()> {
    ensure_wrk()?;
    crate::run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "deis-controller",
    ]))?;
    crate::run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "deis-api",
        "--example",
        "bare",
    ]))?;
    let data = tempfile::tempdir()?;
    let bare_addr = free_addr()?;
    let _bare = Server(
        Command::new(root.join("target/release/examples/bare"))
            .arg(&bare_addr)
            .stdout(Stdio::null())
            .spawn()
            .context("starting bare")?,
    );
    let api_addr = free_addr()?;
    let controller = Command::new(root.join("target/release/deis-controller"))
        .arg("serve")
        .env("DEIS_BIND", &api_addr)
        .env("DEIS_ROUTER_BIND", "")
        .env("DEIS_BUILDER_BIND", "")
        .env(
            "DEIS_DATABASE_URL",
            format!("sqlite://{}", data.path().join("deis.db").display()),
        )
        .env("DEIS_BCRYPT_COST", "4")
        .env("DEIS_RECONCILE_INTERVAL", "0")
        .env("DEIS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting deis-controller")?;
    let pid = controller.id();
    let _controller = Server(controller);
    let base = format!("http://{api_addr}");
    wait_up(&format!("{base}/healthz"))?;
    wait_up(&format!("http://{bare_addr}/v1/apps"))?;
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss = rss_kib(pid)?;

    login(&base, "bench-admin")?;
    let api = Api {
        token: login(&base, "bench")?,
        base: base.clone(),
    };
    api.create_apps(0, 20)?;
    let list = format!("{base}/v1/apps");
    let body = ureq::get(&list)
        .header("Authorization", &format!("token {}", api.token))
        .call()
        .context("GET /v1/apps")?
        .body_mut()
        .read_to_string()
        .context("list body")?;
    let body_file = data.path().join("apps.json");
    std::fs::write(&body_file, &body)?;
    let same_addr = free_addr()?;
    let _same = Server(
        Command::new(root.join("target/release/examples/bare"))
            .arg(&same_addr)
            .arg(&body_file)
            .stdout(Stdio::null())
            .spawn()
            .context("starting bare with the API's body")?,
    );
    let same_url = format!("http://{same_addr}/v1/apps");
    wait_up(&same_url)?;
    let bare_url = format!("http://{bare_addr}/v1/apps");
    let auth = format!("Authorization: token {}", api.token);
    let authed = [auth.as_str()];
    let (mut bare, mut same, mut ours) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let b = wrk(&bare_url, &[], args)?;
        let s = wrk(&same_url, &[], args)?;
        let o = wrk(&list, &authed, args)?;
        println!(
            "round {round}: bare {:>7.0} req/s p99 {:.2} ms | bare, same {} B body {:>7.0} req/s p99 {:.2} ms | GET /v1/apps {:>7.0} req/s p99 {:.2} ms",
            b.rps,
            b.p99_ms,
            body.len(),
            s.rps,
            s.p99_ms,
            o.rps,
            o.p99_ms
        );
        bare.push(b);
        same.push(s);
        ours.push(o);
    }
    let m = |v: &[Load], f: fn(&Load) -> f64| median(v.iter().map(f).collect());
    println!(
        "\nmedians over {} rounds, {} connections, {} s each:",
        args.rounds, args.connections, args.seconds
    );
    for (name, loads) in [
        ("bare handler, static JSON (52 B)", &bare),
        ("bare handler, the API's body", &same),
        ("GET /v1/apps, 20 apps, authed", &ours),
    ] {
        println!(
            "  {name:<34} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
            m(loads, |l| l.rps),
            m(loads, |l| l.p50_ms),
            m(loads, |l| l.p99_ms)
        );
    }
    for (name, loads) in [("static JSON", &bare), ("same body", &same)] {
        println!(
            "  ours / bare ({name}): throughput {:.2}, p99 {:.2}",
            m(&ours, |l| l.rps) / m(loads, |l| l.rps),
            m(&ours, |l| l.p99_ms) / m(loads, |l| l.p99_ms)
        );
    }

    api.create_apps(20, 100)?;
    let hundred = wrk(&list, &authed, args)?;
    let started = Instant::now();
    api.create_apps(100, args.many_apps)?;
    let create_secs = started.elapsed().as_secs_f64();
    let many = wrk(&list, &authed, args)?;
    let last = wrk(&format!("{list}?page=last"), &authed, args)?;
    println!("\nlisting (first page of 100):");
    println!(
        "  100 apps       {:>9.0} req/s  p99 {:.2} ms",
        hundred.rps, hundred.p99_ms
    );
    println!(
        "  {} apps     {:>9.0} req/s  p99 {:.2} ms  (ratio to 100 apps {:.2})",
        args.many_apps,
        many.rps,
        many.p99_ms,
        many.rps / hundred.rps
    );
    println!(
        "  {} apps, page=last {:>5.0} req/s  p99 {:.2} ms",
        args.many_apps, last.rps, last.p99_ms
    );
    println!(
        "  created {} apps in {create_secs:.1} s ({:.0} apps/s)",
        args.many_apps - 100,
        (args.many_apps - 100) as f64 / create_secs
    );
    println!(
        "\ncontroller RSS: idle after start {:.1} MiB, after load {:.1} MiB",
        idle_rss as f64 / 1024.0,
        rss_kib(pid)? as f64 / 1024.0
    );
    Ok(())
}
