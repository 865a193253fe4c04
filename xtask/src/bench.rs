//! `cargo xtask bench`: API throughput and latency against a bare actix-web handler, the
//! releases list, config changes at 4 connections, listing speed at 100 and 10,000 apps, and
//! the controller's memory, on SQLite and then on PostgreSQL (a throwaway server started like
//! `cargo xtask test` starts it, with two controller replicas on it: the load goes to one, and
//! changes made through the other must show through the first within a second).
//!
//! Both servers are release builds on loopback; `wrk` (installed from Debian when missing)
//! drives 16 connections. Rounds alternate bare / controller so that drift of a shared machine
//! hits both alike; the medians are printed. On PostgreSQL `pg_stat_statements` counts the
//! statements (round trips) a config change and a listing cost. Then the container operations of
//! `bench_deploy`, the router against nginx of `bench_router` and the network costs of
//! `bench_networks` (`--only` picks one part).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::postgres::Postgres;

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
    wrk_with(url, headers, args.connections, None, args)
}

/// Runs wrk with `connections` connections and an optional Lua `script`.
fn wrk_with(
    url: &str,
    headers: &[&str],
    connections: u32,
    script: Option<&Path>,
    args: &Args,
) -> anyhow::Result<Load> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{}s", args.seconds),
        "--latency",
    ]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
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

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        ureq::get(&format!("{}{path}", self.base))
            .header("Authorization", &format!("token {}", self.token))
            .call()
            .with_context(|| format!("GET {path}"))?
            .body_mut()
            .read_json()
            .with_context(|| format!("GET {path}: body"))
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

/// The databases the API part runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// The medians and single runs of one backend.
struct Figures {
    backend: Backend,
    bare: f64,
    bare_p99: f64,
    ours: f64,
    ours_p99: f64,
    releases: Load,
    releases_last: Load,
    config: Load,
    release_count: u64,
    /// PostgreSQL: statements per config change and per cached and uncached listing.
    statements: Option<(f64, f64)>,
    /// PostgreSQL: rounds in which the other replica's change showed within a second, and
    /// the slowest.
    replicas: Option<(usize, usize, Duration)>,
}

/// Builds both servers in release mode and prints the API figures of both backends.
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
    let sqlite = api_on(root, args, Backend::Sqlite, None)?;
    let postgres = Postgres::start()?;
    postgres.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")?;
    let pg = api_on(root, args, Backend::Postgres, Some(&postgres))?;
    println!(
        "\nsummary ({} rounds of {} s, medians):",
        args.rounds, args.seconds
    );
    for f in [&sqlite, &pg] {
        println!(
            "  {:<10} GET /v1/apps {:>7.0} req/s, / bare {:.2}, p99 / bare {:.2} | releases ({}) {:>6.0} req/s, page=last {:>6.0} | POST config (4 conn) {:>5.0} req/s p99 {:.1} ms",
            f.backend.name(),
            f.ours,
            f.ours / f.bare,
            f.ours_p99 / f.bare_p99,
            f.release_count,
            f.releases.rps,
            f.releases_last.rps,
            f.config.rps,
            f.config.p99_ms
        );
        if let Some((config, listing)) = f.statements {
            println!(
                "  {:<10} statements: {config:.1} per config change, {listing:.2} per GET /v1/apps",
                ""
            );
        }
        if let Some((ok, rounds, slowest)) = f.replicas {
            println!(
                "  {:<10} replicas: {ok}/{rounds} rounds visible through the other within 1 s (slowest {} ms)",
                "",
                slowest.as_millis()
            );
        }
    }
    Ok(())
}

/// Starts a controller on `database` serving at a free address; returns it and its base URL.
fn controller(root: &Path, database: &str) -> anyhow::Result<(Server, u32, String)> {
    let addr = free_addr()?;
    let child = Command::new(root.join("target/release/deis-controller"))
        .arg("serve")
        .env("DEIS_BIND", &addr)
        .env("DEIS_ROUTER_BIND", "")
        .env("DEIS_BUILDER_BIND", "")
        .env("DEIS_DATABASE_URL", database)
        .env("DEIS_BCRYPT_COST", "4")
        .env("DEIS_RECONCILE_INTERVAL", "0")
        .env("DEIS_MAX_APPS_PER_USER", "1000000")
        .env("DEIS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting deis-controller")?;
    let pid = child.id();
    let base = format!("http://{addr}");
    let server = Server(child);
    wait_up(&format!("{base}/healthz"))?;
    Ok((server, pid, base))
}

/// Statements the bench database ran since the last reset, the bench's own and the listeners'
/// heartbeats left out.
fn statements(pg: &Postgres) -> anyhow::Result<f64> {
    let sum = pg.psql(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_backend_pid%'",
    )?;
    sum.parse()
        .with_context(|| format!("statement count {sum:?}"))
}

/// A wrk script that posts a config change with a new value each time.
fn config_script(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("config.lua");
    std::fs::write(
        &path,
        r#"counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"values": {"BENCH": "' .. counter .. '"}}')
end
"#,
    )?;
    Ok(path)
}

/// Polls `read` for up to a second; how long it took, if it got there.
fn within_a_second(
    mut read: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Option<Duration>> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        if read()? {
            return Ok(Some(start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(None)
}

/// Every API measurement on one backend.
fn api_on(
    root: &Path,
    args: &Args,
    backend: Backend,
    pg: Option<&Postgres>,
) -> anyhow::Result<Figures> {
    println!("\n== API on {} ==", backend.name());
    let data = tempfile::tempdir()?;
    let database = match pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", data.path().join("deis.db").display()),
    };
    let bare_addr = free_addr()?;
    let _bare = Server(
        Command::new(root.join("target/release/examples/bare"))
            .arg(&bare_addr)
            .stdout(Stdio::null())
            .spawn()
            .context("starting bare")?,
    );
    let (_controller, pid, base) = controller(root, &database)?;
    let other = match pg {
        Some(_) => Some(controller(root, &database)?),
        None => None,
    };
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

    let replicas = match &other {
        Some((_, _, other_base)) => Some(replica_rounds(&api, other_base)?),
        None => None,
    };
    if let Some((ok, rounds, slowest)) = replicas {
        println!(
            "\nreplicas: a change through the other replica showed through this one within 1 s in {ok}/{rounds} rounds (slowest {} ms)",
            slowest.as_millis()
        );
    }

    let app = "bench-00000";
    let script = config_script(data.path())?;
    let config_url = format!("{base}/v1/apps/{app}/config");
    let config = wrk_with(&config_url, &authed, 4, Some(&script), args)?;
    println!(
        "\nPOST config, 4 connections: {:>6.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
        config.rps, config.p50_ms, config.p99_ms
    );
    let statements = match pg {
        Some(pg) => {
            let changes = 20;
            pg.psql("SELECT pg_stat_statements_reset()")?;
            for i in 0..changes {
                api.post(
                    &format!("/v1/apps/{app}/config"),
                    &serde_json::json!({ "values": { "ROUND_TRIPS": i.to_string() } }),
                )?;
            }
            let per_change = statements(pg)? / f64::from(changes);
            let gets = 200;
            pg.psql("SELECT pg_stat_statements_reset()")?;
            for _ in 0..gets {
                api.get("/v1/apps")?;
            }
            let per_get = statements(pg)? / f64::from(gets);
            println!(
                "statements (round trips) on PostgreSQL: {per_change:.1} per config change, {per_get:.2} per GET /v1/apps"
            );
            Some((per_change, per_get))
        }
        None => None,
    };
    let release_count = api.get(&format!("/v1/apps/{app}/releases"))?["count"]
        .as_u64()
        .context("release count")?;
    let releases_url = format!("{base}/v1/apps/{app}/releases");
    let releases = wrk(&releases_url, &authed, args)?;
    let releases_last = wrk(&format!("{releases_url}?page=last"), &authed, args)?;
    println!(
        "releases list ({release_count} releases): first page {:>6.0} req/s p99 {:.2} ms | page=last {:>6.0} req/s p99 {:.2} ms",
        releases.rps, releases.p99_ms, releases_last.rps, releases_last.p99_ms
    );

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
        "  {} apps, page=last {:>5.0} req/s  p99 {:.2} ms  (ratio to the first page {:.2})",
        args.many_apps,
        last.rps,
        last.p99_ms,
        last.rps / many.rps
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
    Ok(Figures {
        backend,
        bare: m(&bare, |l| l.rps),
        bare_p99: m(&bare, |l| l.p99_ms),
        ours: m(&ours, |l| l.rps),
        ours_p99: m(&ours, |l| l.p99_ms),
        releases,
        releases_last,
        config,
        release_count,
        statements,
        replicas,
    })
}

/// Ten rounds: an app created and a config value set through the replica at `other_base`
/// must show through `api`'s replica within a second (its list cache warm before).
fn replica_rounds(api: &Api, other_base: &str) -> anyhow::Result<(usize, usize, Duration)> {
    let other = Api {
        base: other_base.to_owned(),
        token: api.token.clone(),
    };
    let rounds = 10;
    let (mut ok, mut slowest) = (0, Duration::ZERO);
    for round in 0..rounds {
        api.get("/v1/apps")?;
        let id = format!("replica-{round}");
        other.post("/v1/apps", &serde_json::json!({ "id": id }))?;
        let created = within_a_second(|| {
            let apps = api.get("/v1/apps")?;
            Ok(apps["results"]
                .as_array()
                .is_some_and(|a| a.iter().any(|app| app["id"] == id.as_str())))
        })?;
        let value = format!("v{round}");
        other.post(
            &format!("/v1/apps/{id}/config"),
            &serde_json::json!({ "values": { "REPLICA": value } }),
        )?;
        let configured = within_a_second(|| {
            let config = api.get(&format!("/v1/apps/{id}/config"))?;
            Ok(config["values"]["REPLICA"] == value.as_str())
        })?;
        if let (Some(a), Some(b)) = (created, configured) {
            ok += 1;
            slowest = slowest.max(a).max(b);
        }
    }
    Ok((ok, rounds, slowest))
}
