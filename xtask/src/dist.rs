//! `cargo xtask dist`: the release tarball and the controller's container image.
//!
//! The tarball holds the binaries, the sample config, the systemd unit, the compose file and the
//! docs. The image is built `FROM scratch` with the binary and the shared libraries `ldd` lists,
//! so building it pulls nothing.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Options of `cargo xtask dist`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Tag of the controller image.
    #[arg(long, default_value = "deis/controller:latest")]
    tag: String,
    /// Only the tarball, no image.
    #[arg(long)]
    no_image: bool,
}

/// Files of the tarball besides the binaries: (source relative to the root, place inside).
const PAYLOAD: &[(&str, &str)] = &[
    ("README.md", "README.md"),
    ("docs/OPERATIONS.md", "docs/OPERATIONS.md"),
    ("docs/ARCHITECTURE.md", "docs/ARCHITECTURE.md"),
    ("deploy/deis.toml", "etc/deis.toml"),
    (
        "deploy/deis-controller.service",
        "systemd/deis-controller.service",
    ),
    ("deploy/compose.yml", "compose/compose.yml"),
];

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Shared libraries the binary loads, as absolute paths (the loader included).
fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    if !out.status.success() {
        bail!("ldd {} failed", binary.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect())
}

/// Builds the tarball and, unless told otherwise, the image.
pub(crate) fn run(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "deis-controller",
        "-p",
        "deis-cli",
    ]))?;
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("deis-controller-{version}-{}-linux", std::env::consts::ARCH);
    let dist = root.join("target/dist");
    let stage = dist.join(&name);
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    let controller = root.join("target/release/deis-controller");
    copy(&controller, &stage.join("bin/deis-controller"))?;
    copy(&root.join("target/release/deis"), &stage.join("bin/deis"))?;
    for (from, to) in PAYLOAD {
        copy(&root.join(from), &stage.join(to))?;
    }
    let tarball = dist.join(format!("{name}.tar.gz"));
    crate::run(
        Command::new("tar")
            .arg("-C")
            .arg(&dist)
            .arg("-czf")
            .arg(&tarball)
            .arg(&name),
    )?;
    println!("tarball: {}", tarball.display());
    if args.no_image {
        return Ok(());
    }
    let context = tempfile::tempdir()?;
    let rootfs = context.path().join("rootfs");
    copy(&controller, &rootfs.join("usr/local/bin/deis-controller"))?;
    for lib in shared_libraries(&controller)? {
        copy(&lib, &rootfs.join(lib.strip_prefix("/")?))?;
    }
    fs::create_dir_all(rootfs.join("tmp"))?;
    // Anyone may write /tmp (sticky); the data folder is copied in owned by the image's user.
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::create_dir_all(context.path().join("data/deis"))?;
    copy(
        &root.join("deploy/controller/Dockerfile"),
        &context.path().join("Dockerfile"),
    )?;
    crate::run(
        Command::new("docker")
            .args(["build", "--tag", &args.tag])
            .arg(context.path()),
    )?;
    println!("image: {}", args.tag);
    Ok(())
}
