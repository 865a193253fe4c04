//! `cargo xtask bench --only deploy`: container operations through the controller against the
//! same operations issued straight to the engine.
//!
//! Both sides run on the same engine in every round, the engine first in odd rounds and the
//! controller first in even ones: removing containers leaves the engine cleaning up for a
//! while, which slows whatever comes next, and drift of a shared machine should hit both alike. The controller side is the release binary over HTTP:
//! `POST /scale {"web": 20}` from 0, `POST /scale {"web": 0}` back, and a config change of an
//! app with 10 web containers. The engine side is `crates/scheduler/examples/raw_engine.rs`:
//! the same containers (image, command, environment, labels, restart policy, grace period)
//! created, started, stopped and removed concurrently through bollard, nothing else. The
//! medians and the ratio controller / engine of each are printed; the target is at most 1.2.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::bench::{Server, free_addr, login, median, wait_up};

/// Rounds, each measuring the engine and the controller once.
const ROUNDS: usize = 7;
const IMAGE: &str = "deis/test-app:latest";
/// The image's own server, which exits at once on SIGTERM.
const WEB: &str = "start";

/// Removes what the bench made (containers and networks by label, the controller's release
/// images, the baseline's image tags), also on failure.
struct Cleanup {
    identities: Vec<String>,
    apps: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for identity in &self.identities {
            let filter = format!("label=deis.controller={identity}");
            let ids = docker(&["ps", "-aq", "--filter", &filter]).unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = docker(&[&["rm", "-f"], ids.as_slice()].concat());
            }
            let releases = format!("reference=deis-release/{identity}/*");
            remove_images(&["--filter", &releases]);
            // Not `network prune`: the engine runs one prune at a time and refuses the others.
            let networks =
                docker(&["network", "ls", "-q", "--filter", &filter]).unwrap_or_default();
            let networks: Vec<&str> = networks.split_whitespace().collect();
            if !networks.is_empty() {
                let _ = docker(&[&["network", "rm"], networks.as_slice()].concat());
            }
        }
        for app in &self.apps {
            remove_images(&[app]);
        }
    }
}

/// Removes the image tags `docker image ls` lists with these arguments.
fn remove_images(selection: &[&str]) {
    let listed = docker(
        &[
            &["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
            selection,
        ]
        .concat(),
    )
    .unwrap_or_default();
    let tags: Vec<&str> = listed.split_whitespace().collect();
    if !tags.is_empty() {
        let _ = docker(&[&["rmi"], tags.as_slice()].concat());
    }
}

/// Runs `docker` with `args`; its standard output.
pub(crate) fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .context("running docker")?;
    if !out.status.success() {
        bail!("docker {} failed: {}", args.join(" "), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The controller's API, as the bench's user.
struct Api {
    base: String,
    token: String,
}

impl Api {
    /// Seconds one `POST` takes to be answered with success.
    fn post(&self, path: &str, body: &Value) -> anyhow::Result<f64> {
        let began = Instant::now();
        ureq::post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("token {}", self.token))
            .send_json(body)
            .with_context(|| format!("POST {path} {body}"))?;
        Ok(began.elapsed().as_secs_f64())
    }
}

/// One engine measurement: seconds of `up`, `down` and `deploy`.
fn raw_engine(binary: &Path, app: &str, identity: &str) -> anyhow::Result<[f64; 3]> {
    let out = Command::new(binary)
        .args([IMAGE, app, identity])
        .stderr(Stdio::inherit())
        .output()
        .context("running raw_engine")?;
    if !out.status.success() {
        bail!("raw_engine failed: {}", out.status);
    }
    let figures: Value = serde_json::from_slice(&out.stdout).context("raw_engine output")?;
    let field = |key: &str| {
        figures[key]
            .as_f64()
            .with_context(|| format!("no {key} in {figures}"))
    };
    Ok([field("up")?, field("down")?, field("deploy")?])
}

/// Builds the release controller and the engine baseline, then prints the figures.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    if docker(&["image", "inspect", IMAGE]).is_err() {
        crate::test_image::run(root, &crate::test_image::Args::default())?;
    }
    for (package, example) in [
        ("deis-controller", None),
        ("deis-scheduler", Some("raw_engine")),
    ] {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root)
            .args(["build", "--release", "-p", package]);
        if let Some(example) = example {
            cmd.args(["--example", example]);
        }
        crate::run(&mut cmd)?;
    }
    let tag = std::process::id();
    let (identity, app) = (format!("bench-deploy-{tag}"), format!("bench-deploy-{tag}"));
    let (raw_identity, raw_app) = (format!("bench-raw-{tag}"), format!("bench-raw-{tag}"));
    let _cleanup = Cleanup {
        identities: vec![identity.clone(), raw_identity.clone()],
        apps: vec![app.clone(), raw_app.clone()],
    };

    let data = tempfile::tempdir()?;
    let addr = free_addr()?;
    let _controller = Server(
        Command::new(root.join("target/release/deis-controller"))
            .arg("serve")
            .env("DEIS_BIND", &addr)
            .env("DEIS_ROUTER_BIND", "")
            .env("DEIS_BUILDER_BIND", "")
            .env(
                "DEIS_DATABASE_URL",
                format!("sqlite://{}", data.path().join("deis.db").display()),
            )
            .env("DEIS_SCHEDULER_IDENTITY", &identity)
            .env("DEIS_BCRYPT_COST", "4")
            .env("DEIS_RECONCILE_INTERVAL", "0")
            .env("DEIS_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting deis-controller")?,
    );
    let base = format!("http://{addr}");
    wait_up(&format!("{base}/healthz"))?;
    let api = Api {
        token: login(&base, "bench")?,
        base,
    };
    let apps = format!("/v1/apps/{app}");
    api.post("/v1/apps", &json!({ "id": app }))?;
    api.post(
        &format!("{apps}/builds"),
        &json!({ "image": IMAGE, "sha": "0123456789abcdef", "procfile": { "web": WEB } }),
    )?;
    let scale = |n: u32| api.post(&format!("{apps}/scale"), &json!({ "web": n }));
    scale(0)?;

    let raw_binary = root.join("target/release/examples/raw_engine");
    let controller = |round: usize| -> anyhow::Result<[f64; 3]> {
        let up = scale(20)?;
        let down = scale(0)?;
        scale(10)?;
        let deploy = api.post(
            &format!("{apps}/config"),
            &json!({ "values": { "ROUND": round.to_string() } }),
        )?;
        scale(0)?;
        Ok([up, down, deploy])
    };
    let what = [
        "scale web=0->20",
        "scale web=20->0",
        "config change of 10 web",
    ];
    let mut engine: [Vec<f64>; 3] = Default::default();
    let mut ours: [Vec<f64>; 3] = Default::default();
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for round in 1..=ROUNDS {
        let (raw, mine) = if round % 2 == 1 {
            let raw = raw_engine(&raw_binary, &raw_app, &raw_identity)?;
            (raw, controller(round)?)
        } else {
            let mine = controller(round)?;
            (raw_engine(&raw_binary, &raw_app, &raw_identity)?, mine)
        };
        let mut line = format!("round {round}:");
        for i in 0..3 {
            engine[i].push(raw[i]);
            ours[i].push(mine[i]);
            ratios[i].push(mine[i] / raw[i]);
            line.push_str(&format!(
                "  {} engine {:.3} s controller {:.3} s ({:.2})",
                what[i],
                raw[i],
                mine[i],
                mine[i] / raw[i]
            ));
        }
        println!("{line}");
    }
    println!(
        "\nmedians over {ROUNDS} rounds, seconds; ratio = controller / engine, target <= 1.2:"
    );
    for (i, label) in what.iter().enumerate() {
        let (e, o) = (median(engine[i].clone()), median(ours[i].clone()));
        println!(
            "  {label:<24} engine {e:.3}  controller {o:.3}  ratio of medians {:.2}  median ratio {:.2}",
            o / e,
            median(ratios[i].clone())
        );
    }
    Ok(())
}
