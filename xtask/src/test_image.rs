//! `cargo xtask test-image`: builds `deis/test-app:latest` from `deploy/test-image/`.
//!
//! The engine here has no registry, so the image starts `FROM scratch` and gets Debian's
//! static busybox copied in (installed with apt when missing). The build context is a
//! temporary directory holding the recipe's files and that one binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Options of `cargo xtask test-image`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Reference to tag the image as.
    #[arg(long, default_value = "deis/test-app:latest")]
    tag: String,
    /// A statically linked busybox; installed from `busybox-static` when it is missing.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            tag: "deis/test-app:latest".into(),
            busybox: PathBuf::from("/bin/busybox"),
        }
    }
}

/// The recipe, relative to the workspace root.
const RECIPE_DIR: &str = "deploy/test-image";
/// Files of the recipe copied into the build context.
const RECIPE_FILES: [&str; 2] = ["Dockerfile", "start.sh"];

/// Builds and tags the image.
pub(crate) fn run(root: &Path, args: &Args) -> anyhow::Result<()> {
    ensure_static_busybox(&args.busybox)?;
    let context = tempfile::tempdir().context("cannot create a build context directory")?;
    let recipe = root.join(RECIPE_DIR);
    for file in RECIPE_FILES {
        let from = recipe.join(file);
        fs::copy(&from, context.path().join(file))
            .with_context(|| format!("cannot copy {}", from.display()))?;
    }
    fs::copy(&args.busybox, context.path().join("busybox"))
        .with_context(|| format!("cannot copy {}", args.busybox.display()))?;
    crate::run(
        Command::new("docker")
            .args(["build", "--tag", &args.tag])
            .arg(context.path()),
    )?;
    eprintln!("xtask: built {}", args.tag);
    Ok(())
}

/// Makes sure `path` is a statically linked busybox, installing `busybox-static` if needed.
fn ensure_static_busybox(path: &Path) -> anyhow::Result<()> {
    if is_static_executable(path)? {
        return Ok(());
    }
    eprintln!(
        "xtask: {} is missing or dynamically linked; installing busybox-static",
        path.display()
    );
    let install = || {
        crate::run(
            Command::new("apt-get")
                .args(["install", "-y", "busybox-static"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        crate::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    if !is_static_executable(path)? {
        bail!(
            "{} is still not a static executable after installing busybox-static",
            path.display()
        );
    }
    Ok(())
}

/// Whether `path` is a statically linked executable (so `FROM scratch` can run it), as `ldd`
/// tells: it exits non-zero with "not a dynamic executable" for static binaries. `Ok(false)`
/// when the file does not exist.
fn is_static_executable(path: &Path) -> anyhow::Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let out = Command::new("ldd")
        .arg(path)
        .output()
        .context("cannot run ldd")?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(said.contains("not a dynamic executable") || said.contains("statically linked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_test_binaries_and_missing_files_are_not_static() {
        let exe = std::env::current_exe().expect("current exe");
        assert!(
            !is_static_executable(&exe).expect("ldd runs"),
            "cargo test binaries use ld.so"
        );
        assert!(!is_static_executable(Path::new("/nonexistent/busybox")).expect("missing is fine"));
    }
}
