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

/// Whether `path` is an ELF executable without a program interpreter (so `FROM scratch`
/// can run it). `Ok(false)` when the file does not exist.
fn is_static_executable(path: &Path) -> anyhow::Result<bool> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(elf_is_static(&bytes))
}

/// ELF class byte for 64-bit files.
const ELFCLASS64: u8 = 2;
/// ELF data byte for little-endian files.
const ELFDATA2LSB: u8 = 1;
/// Program header type of the dynamic loader's path.
const PT_INTERP: u32 = 3;

/// Reads the program headers of a 64-bit little-endian ELF file: static when none is
/// `PT_INTERP`. Anything else (other classes, truncated files) counts as not static.
fn elf_is_static(bytes: &[u8]) -> bool {
    let header_ok = bytes.get(..4) == Some(b"\x7fELF")
        && bytes.get(4) == Some(&ELFCLASS64)
        && bytes.get(5) == Some(&ELFDATA2LSB);
    if !header_ok {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (
        read_le(bytes, 0x20, 8),
        read_le(bytes, 0x36, 2),
        read_le(bytes, 0x38, 2),
    ) else {
        return false;
    };
    (0..phnum).all(|i| {
        let offset = usize::try_from(phoff + i * phentsize).ok();
        offset
            .and_then(|at| read_le(bytes, at, 4))
            .is_some_and(|p_type| p_type != u64::from(PT_INTERP))
    })
}

/// The little-endian unsigned integer of `len` bytes at `at`, if the file is long enough.
fn read_le(bytes: &[u8], at: usize, len: usize) -> Option<u64> {
    let slice = bytes.get(at..at.checked_add(len)?)?;
    Some(
        slice
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_is_dynamic_and_garbage_is_not_static() {
        let exe = std::env::current_exe().expect("current exe");
        let bytes = fs::read(exe).expect("read current exe");
        assert!(!elf_is_static(&bytes), "cargo test binaries use ld.so");
        assert!(!elf_is_static(b"\x7fELF"));
        assert!(!elf_is_static(b"#!/bin/sh\n"));
    }
}
