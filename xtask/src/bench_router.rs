//! `cargo xtask bench --only router`: requests through our router against nginx proxying to
//! the same app container, and against the container directly.
//!
//! The app is `crates/router/examples/bench_upstream.rs` (a small static page over HTTP/1.1
//! keep-alive), built statically and run in a `FROM scratch` image made for the run: busybox
//! httpd, the test image's server, forks per connection and closes after each response, so
//! it would measure itself rather than the proxies. The router is the release build of
//! `crates/router/examples/bench_router.rs` (default settings, access log off); nginx is
//! Debian's package (installed when missing) with an `upstream` block using `keepalive`, the
//! same forwarded headers and request id, access log off, on a private port with its own
//! config, pid and logs in a temporary directory. Every round measures the router and nginx
//! (alternating which goes first) and then the container directly, with wrk and the same
//! `Host` header; medians and ratios are printed, with the router's resident memory under
//! load and the CPU time each proxy spent per request (its user and system time over the
//! run, nginx's workers included), which a busy shared machine disturbs less than req/s. The container and the image are removed at the end, also on failure.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench::{Args, Load, Server, ensure_wrk, free_addr, median, rss_kib, wrk};
use crate::bench_deploy::docker;

/// The `Host` every request names.
const HOST: &str = "bench.localhost";
/// The app's port inside its container.
const APP_PORT: u16 = 5000;

/// Removes the bench's container and image, also on failure.
struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        let _ = docker(&["rmi", &self.image]);
    }
}

/// nginx in the foreground, stopped with SIGTERM (its master then stops its workers).
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let stopped = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn ensure_nginx() -> anyhow::Result<()> {
    if Command::new("nginx").arg("-v").output().is_ok() {
        return Ok(());
    }
    // RUNLEVEL=1 keeps the package's scripts from starting a system-wide nginx on port 80.
    let install = || {
        crate::run(
            Command::new("apt-get")
                .args(["install", "-y", "nginx"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("RUNLEVEL", "1"),
        )
    };
    if install().is_err() {
        crate::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    Ok(())
}

/// The host's target triple, as `rustc -vV` tells.
fn host_triple() -> anyhow::Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host")
}

/// Waits until something accepts TCP connections on `addr`.
fn wait_tcp(addr: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on {addr}")
}

/// Builds the static app binary and its image.
fn build_image(root: &Path, image: &str) -> anyhow::Result<()> {
    let triple = host_triple()?;
    crate::run(
        Command::new(env!("CARGO"))
            .current_dir(root)
            .args([
                "build",
                "--release",
                "-p",
                "deis-router",
                "--example",
                "bench_upstream",
                "--target",
                &triple,
            ])
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    )?;
    let context = tempfile::tempdir()?;
    std::fs::copy(
        root.join(format!("target/{triple}/release/examples/bench_upstream")),
        context.path().join("bench_upstream"),
    )
    .context("copying the bench app")?;
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY bench_upstream /bench_upstream\nENV PORT={APP_PORT}\nCMD [\"/bench_upstream\"]\n"
        ),
    )?;
    crate::run(
        Command::new("docker")
            .args(["build", "--quiet", "--tag", image])
            .arg(context.path()),
    )
}

/// nginx's configuration: one server proxying to `app` with a keep-alive upstream pool.
fn nginx_conf(dir: &Path, listen: &str, app: &str) -> String {
    let dir = dir.display();
    format!(
        r#"worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream app {{
        server {app};
        keepalive 64;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Request-Id $request_id;
            add_header X-Request-Id $request_id;
        }}
    }}
}}
"#
    )
}

/// CPU time (user and system, in clock ticks) used so far by `pid` and its child processes
/// (nginx's workers).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let own = |pid: &str| -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command (which may hold spaces) start at the state, field 3.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| -> anyhow::Result<u64> {
            fields
                .get(n - 3)
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("no field {n} in /proc/{pid}/stat"))
        };
        Ok(field(14)? + field(15)?)
    };
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    let mut ticks = own(&pid.to_string())?;
    for child in children.split_whitespace() {
        ticks += own(child)?;
    }
    Ok(ticks)
}

/// Clock ticks per second of `/proc` CPU times.
fn clock_ticks() -> anyhow::Result<f64> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("running getconf")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("getconf CLK_TCK printed no number")
}

/// One measured side: wrk's figures and the proxy's CPU time per request.
struct Side {
    load: Load,
    cpu_us: f64,
}

/// Runs wrk against `url` and charges the CPU time `pid` used meanwhile to its requests.
fn measure(url: &str, headers: &[&str], args: &Args, pid: u32, hz: f64) -> anyhow::Result<Side> {
    let before = cpu_ticks(pid)?;
    let load = wrk(url, headers, args)?;
    let used = (cpu_ticks(pid)? - before) as f64 / hz;
    Ok(Side {
        load,
        cpu_us: used * 1e6 / load.requests.max(1.0),
    })
}

/// Runs `load` while sampling the resident memory of `pid`; the load and the peak in KiB.
fn with_peak_rss<T>(
    pid: u32,
    load: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, u64)> {
    let done = AtomicBool::new(false);
    let peak = AtomicU64::new(0);
    let measured = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if let Ok(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let measured = load();
        done.store(true, Ordering::Relaxed);
        measured
    })?;
    Ok((measured, peak.load(Ordering::Relaxed)))
}

/// Builds everything, measures, prints the figures.
pub(crate) fn run(root: &Path, args: &Args) -> anyhow::Result<()> {
    ensure_wrk()?;
    ensure_nginx()?;
    crate::run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "deis-router",
        "--example",
        "bench_router",
    ]))?;
    let tag = std::process::id();
    let cleanup = Cleanup {
        container: format!("deis-bench-router-{tag}"),
        image: format!("deis-bench/router-app:{tag}"),
    };
    build_image(root, &cleanup.image)?;
    docker(&["run", "-d", "--name", &cleanup.container, &cleanup.image])?;
    let ip = docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.IPAddress}}",
        &cleanup.container,
    ])?;
    let app = format!("{}:{APP_PORT}", ip.trim());
    wait_tcp(&app)?;

    let router_addr = free_addr()?;
    let router = Command::new(root.join("target/release/examples/bench_router"))
        .args([&router_addr, HOST, &app])
        .stdout(Stdio::null())
        .spawn()
        .context("starting bench_router")?;
    let router_pid = router.id();
    let _router = Server(router);
    wait_tcp(&router_addr)?;
    let idle_rss = rss_kib(router_pid)?;

    let dir = tempfile::tempdir()?;
    let nginx_addr = free_addr()?;
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), &nginx_addr, &app))?;
    let nginx = Nginx(
        Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .spawn()
            .context("starting nginx")?,
    );
    let nginx_pid = nginx.0.id();
    wait_tcp(&nginx_addr)?;

    let hz = clock_ticks()?;
    let host = format!("Host: {HOST}");
    let headers = [host.as_str()];
    let (router_url, nginx_url, direct_url) = (
        format!("http://{router_addr}/"),
        format!("http://{nginx_addr}/"),
        format!("http://{app}/"),
    );
    let (mut ours, mut theirs, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    let mut peak_rss = 0;
    let mut measure_router = || -> anyhow::Result<Side> {
        let (side, peak) = with_peak_rss(router_pid, || {
            measure(&router_url, &headers, args, router_pid, hz)
        })?;
        peak_rss = peak_rss.max(peak);
        Ok(side)
    };
    let measure_nginx = || measure(&nginx_url, &headers, args, nginx_pid, hz);
    for round in 1..=args.rounds {
        let (r, n) = if round % 2 == 1 {
            let r = measure_router()?;
            (r, measure_nginx()?)
        } else {
            let n = measure_nginx()?;
            (measure_router()?, n)
        };
        let d = wrk(&direct_url, &headers, args)?;
        println!(
            "round {round}: router {:>7.0} req/s p99 {:.2} ms {:.1} us CPU/req | nginx {:>7.0} req/s p99 {:.2} ms {:.1} us CPU/req | direct {:>7.0} req/s p99 {:.2} ms",
            r.load.rps,
            r.load.p99_ms,
            r.cpu_us,
            n.load.rps,
            n.load.p99_ms,
            n.cpu_us,
            d.rps,
            d.p99_ms
        );
        ours.push(r);
        theirs.push(n);
        direct.push(d);
    }

    let m = |v: &[Side], f: fn(&Side) -> f64| median(v.iter().map(f).collect());
    let md = |f: fn(&Load) -> f64| median(direct.iter().map(f).collect());
    println!(
        "\nmedians over {} rounds, {} connections, {} s each, one app container:",
        args.rounds, args.connections, args.seconds
    );
    for (name, sides) in [
        ("router (deis-router)", &ours),
        ("nginx, keepalive upstream", &theirs),
    ] {
        println!(
            "  {name:<26} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  CPU {:.1} us/request",
            m(sides, |s| s.load.rps),
            m(sides, |s| s.load.p50_ms),
            m(sides, |s| s.load.p99_ms),
            m(sides, |s| s.cpu_us)
        );
    }
    println!(
        "  {:<26} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
        "the container directly",
        md(|l| l.rps),
        md(|l| l.p50_ms),
        md(|l| l.p99_ms)
    );
    let (rps, p99) = (m(&ours, |s| s.load.rps), m(&ours, |s| s.load.p99_ms));
    println!(
        "  router / nginx: throughput {:.2} (target >= 0.9), p99 {:.2} (target <= 1.5), CPU per request {:.2}",
        rps / m(&theirs, |s| s.load.rps),
        p99 / m(&theirs, |s| s.load.p99_ms),
        m(&ours, |s| s.cpu_us) / m(&theirs, |s| s.cpu_us)
    );
    println!(
        "  router / direct: throughput {:.2}, p50 +{:.2} ms, p99 {:+.2} ms",
        rps / md(|l| l.rps),
        m(&ours, |s| s.load.p50_ms) - md(|l| l.p50_ms),
        p99 - md(|l| l.p99_ms)
    );
    println!(
        "  router RSS: {:.1} MiB idle, {:.1} MiB peak under load",
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    Ok(())
}
