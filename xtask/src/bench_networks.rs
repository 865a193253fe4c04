//! `cargo xtask bench --only networks`: what keeping apps apart costs on this engine, the
//! platform's way (one bridge without inter-container traffic) against a bridge per app.
//! The engine side is `crates/scheduler/examples/networks.rs`; this builds it, runs it and
//! prints its medians with what they mean.

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use serde_json::Value;

const IMAGE: &str = "deis/test-app:latest";

/// Builds the measurement in release mode, runs it on a fresh identity and prints the figures.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let present = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .context("running docker")?;
    if !present.status.success() {
        crate::test_image::run(root, &crate::test_image::Args::default())?;
    }
    crate::run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "deis-scheduler",
        "--example",
        "networks",
    ]))?;
    let identity = format!("bench-networks-{}", std::process::id());
    let out = Command::new(root.join("target/release/examples/networks"))
        .args([IMAGE, &identity])
        .output()
        .context("running the networks measurement")?;
    if !out.status.success() {
        anyhow::bail!(
            "the networks measurement failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let figures: Value =
        serde_json::from_slice(&out.stdout).context("reading the measurement's figures")?;
    let ms = |key: &str| figures[key].as_f64().unwrap_or(f64::NAN);
    println!("\nnetworks, medians over 5 rounds, milliseconds:");
    println!(
        "  bridge with a /24 subnet: create {:.0}, remove {:.0} (per app: at its first deploy and at destroy)",
        ms("net_create"),
        ms("net_remove")
    );
    println!(
        "  start 5 containers, 30 bridges present: one shared bridge (icc off) {:.0}, a bridge each {:.0} (ratio {:.2})",
        ms("shared_start"),
        ms("per_app_start"),
        ms("shared_start") / ms("per_app_start")
    );
    println!(
        "  DockerScheduler::start of one container: network made first {:.0}, network known {:.0}",
        ms("first_start"),
        ms("next_start")
    );
    Ok(())
}
