//! `cargo xtask test`: everything the test suite needs, then the whole suite.
//!
//! Installs `git` and `openssh-client` when missing (the builder's tests), builds the test
//! image, starts a throwaway PostgreSQL (installed from Debian when absent)
//! and runs `cargo test --workspace` with `DEIS_TEST_POSTGRES_URL` pointing at it (the store
//! suite runs each test on both backends, everything else on SQLite and the real engine), then
//! the API suite once more with `DEIS_TEST_BACKEND=postgres`. The engine manages a swarm
//! throughout (made and left again when it was in none, see `swarm`): the swarm scheduler's
//! tests run in the workspace pass (`DEIS_TEST_SWARM=1`), and the end-to-end suite runs once
//! more with `DEIS_TEST_SCHEDULER=swarm` (but for its one Docker-only case).

use std::path::Path;
use std::process::Command;

use crate::postgres::Postgres;

/// Options of `cargo xtask test`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Skip PostgreSQL (SQLite and Docker only).
    #[arg(long)]
    no_postgres: bool,
    /// Extra arguments for `cargo test` (after `--`).
    #[arg(last = true)]
    cargo_args: Vec<String>,
}

/// Prepares the services and runs the suite.
pub(crate) fn run(root: &Path, args: &Args) -> anyhow::Result<()> {
    ensure_git_and_ssh()?;
    crate::test_image::run(root, &crate::test_image::Args::default())?;
    let swarm = crate::swarm::Swarm::ensure()?;
    let postgres = if args.no_postgres {
        None
    } else {
        Some(Postgres::start()?)
    };
    let cargo_test = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root)
            .arg("test")
            .args(extra)
            .args(&args.cargo_args);
        if let Some(pg) = &postgres {
            cmd.env("DEIS_TEST_POSTGRES_URL", &pg.url);
        }
        cmd.env("DEIS_TEST_SWARM", "1");
        cmd
    };
    crate::run(&mut cargo_test(&["--workspace", "--all-targets"]))?;
    if postgres.is_some() {
        eprintln!("xtask: the API suite again, on PostgreSQL");
        crate::run(
            cargo_test(&["-p", "deis-api", "--test", "api"]).env("DEIS_TEST_BACKEND", "postgres"),
        )?;
    }
    eprintln!("xtask: the end-to-end suite again, on the swarm");
    let (cargo_level, test_level) = match args.cargo_args.iter().position(|a| a == "--") {
        Some(at) => (&args.cargo_args[..at], &args.cargo_args[at + 1..]),
        None => (&args.cargo_args[..], &[][..]),
    };
    crate::run(
        Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["test", "-p", "deis-controller", "--test", "e2e"])
            .args(cargo_level)
            .args(["--", "--skip", DOCKER_ONLY_E2E])
            .args(test_level)
            .env("DEIS_TEST_SCHEDULER", "swarm"),
    )?;
    drop(swarm);
    Ok(())
}

/// The builder's tests push with the real `git` and `ssh` clients (and the builder itself runs
/// the system's git): installs `git` and `openssh-client` from Debian when either is missing.
fn ensure_git_and_ssh() -> anyhow::Result<()> {
    let present = |program: &str, arg: &str| Command::new(program).arg(arg).output().is_ok();
    if present("git", "--version") && present("ssh", "-V") && present("ssh-keygen", "-?") {
        return Ok(());
    }
    eprintln!("xtask: installing git and openssh-client from Debian");
    let install = || {
        crate::run(
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "git",
                    "openssh-client",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        crate::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    Ok(())
}

/// The one end-to-end case about the Docker backend alone: a container a crash left created
/// but never started (a swarm has no such state; its tasks are started by the swarm).
const DOCKER_ONLY_E2E: &str = "reconcile_starts_a_container_a_crash_left_created_but_not_started";
