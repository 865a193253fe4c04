//! `cargo xtask`: project automation that needs nothing but cargo and the tools it names.
//!
//! One binary, one module per subcommand. It runs from the workspace root whatever the
//! caller's directory, and it knows nothing of the crates under `crates/`: it drives
//! external tools (`docker`, `apt-get`) with the project's own files.

mod bench;
mod bench_deploy;
mod bench_networks;
mod bench_router;
mod dist;
mod postgres;
mod swarm;
mod test;
mod test_image;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

/// Command line of `cargo xtask`.
#[derive(Parser)]
#[command(about = "Project automation for the Deis controller workspace")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

/// The subcommands, one module each.
#[derive(Subcommand)]
enum Task {
    /// Builds and tags the test application image (`deis/test-app:latest`) without a registry.
    TestImage(test_image::Args),
    /// Runs the whole test suite with every service it needs (the README's test command).
    Test(test::Args),
    /// Applies the database migrations (`deis-controller migrate` with the same settings).
    Migrate {
        /// Arguments passed on to `deis-controller migrate` (e.g. `--config FILE`).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Measures the API against a bare actix-web handler, container operations against the
    /// engine's own speed and the router against nginx, and prints the figures.
    Bench(bench::Args),
    /// Builds the release tarball and the controller's container image.
    Dist(dist::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = project_root();
    match cli.command {
        Task::TestImage(args) => test_image::run(&root, &args),
        Task::Test(args) => test::run(&root, &args),
        Task::Migrate { args } => run(Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["run", "--quiet", "-p", "deis-controller", "--", "migrate"])
            .args(args)),
        Task::Bench(args) => bench::run(&root, &args),
        Task::Dist(args) => dist::run(&root, &args),
    }
}

/// The workspace root: the parent of this crate's directory.
fn project_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir
        .parent()
        .map_or_else(|| xtask_dir.to_path_buf(), Path::to_path_buf)
}

/// Runs `cmd` with inherited stdio, failing unless it exits with success.
fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}
