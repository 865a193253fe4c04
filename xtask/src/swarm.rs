//! A single-node swarm for the swarm scheduler's tests: made on the local engine when it is
//! in none (`docker swarm init --advertise-addr 127.0.0.1`) and left again on drop, also when
//! the suite fails; an engine that already manages a swarm is used as it is and never left.

use std::process::Command;

use anyhow::{Context, bail};

/// The engine's swarm for the duration of the suite.
pub(crate) struct Swarm {
    /// Whether this run made it (and so leaves it).
    made: bool,
    /// Whether its init made the engine's `docker_gwbridge` network, which leaving the swarm
    /// keeps (and so this run removes).
    made_gwbridge: bool,
}

/// The bridge `docker swarm init` creates for swarm containers' outside traffic.
const GWBRIDGE: &str = "docker_gwbridge";

impl Swarm {
    /// The engine's swarm, made when the engine is in none. Fails on a worker node or a swarm
    /// in a state tests cannot use.
    pub(crate) fn ensure() -> anyhow::Result<Self> {
        let state = docker(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ])?;
        match state.trim() {
            "active true" => {
                eprintln!("xtask: the engine manages a swarm already; using it");
                Ok(Self {
                    made: false,
                    made_gwbridge: false,
                })
            }
            "inactive false" => {
                eprintln!("xtask: making a single-node swarm for the swarm tests");
                let had_gwbridge = docker(&["network", "inspect", GWBRIDGE]).is_ok();
                crate::run(Command::new("docker").args([
                    "swarm",
                    "init",
                    "--advertise-addr",
                    "127.0.0.1",
                ]))?;
                Ok(Self {
                    made: true,
                    made_gwbridge: !had_gwbridge,
                })
            }
            other => bail!(
                "the engine's swarm state is {other:?}: the swarm tests need a manager or no \
                 swarm at all"
            ),
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.made {
            eprintln!("xtask: leaving the swarm this run made");
            if let Err(e) = crate::run(Command::new("docker").args(["swarm", "leave", "--force"])) {
                eprintln!("xtask: {e:#}");
            }
        }
        if self.made_gwbridge
            && let Err(e) = crate::run(Command::new("docker").args(["network", "rm", GWBRIDGE]))
        {
            eprintln!("xtask: {e:#}");
        }
    }
}

/// `docker args...`'s standard output.
fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .context("cannot run the docker CLI")?;
    if !out.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
