//! The bare repositories, one per app under `{data_dir}/repos/{app}.git`, the hook git runs
//! in them, and the sweep that removes those of destroyed apps.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::{Builder, BuilderSettings};

/// The directory of every app's repository.
pub(crate) fn root(settings: &BuilderSettings) -> PathBuf {
    settings.data_dir.join("repos")
}

/// The repository of `app`.
pub(crate) fn path(settings: &BuilderSettings, app: &str) -> PathBuf {
    root(settings).join(format!("{app}.git"))
}

/// Writes the `pre-receive` hook (running the hook program) into its own directory, which
/// git is pointed at with `core.hooksPath`; answers that directory.
pub(crate) async fn write_hook(settings: &BuilderSettings) -> anyhow::Result<PathBuf> {
    let dir = settings.data_dir.join("builder-hooks");
    tokio::fs::create_dir_all(&dir).await?;
    tokio::fs::create_dir_all(root(settings)).await?;
    let program = settings
        .hook_program
        .display()
        .to_string()
        .replace('\'', r"'\''");
    let script = format!("#!/bin/sh\nexec '{program}' builder-hook\n");
    let hook = dir.join("pre-receive");
    let staged = dir.join("pre-receive.new");
    tokio::fs::write(&staged, script).await?;
    tokio::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).await?;
    tokio::fs::rename(&staged, &hook).await?;
    Ok(dir)
}

/// Makes the app's bare repository unless it exists.
pub(crate) async fn ensure(settings: &BuilderSettings, app: &str) -> anyhow::Result<PathBuf> {
    let repo = path(settings, app);
    if repo.join("HEAD").exists() {
        return Ok(repo);
    }
    let out = tokio::process::Command::new("git")
        .args(["init", "--bare", "--quiet"])
        .arg(&repo)
        .output()
        .await
        .context("running git init")?;
    anyhow::ensure!(
        out.status.success(),
        "git init failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(repo)
}

/// Bytes the files under `dir` hold.
pub(crate) async fn size(dir: &Path) -> u64 {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut total = 0;
        let mut pending = vec![dir];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                match entry.metadata() {
                    Ok(meta) if meta.is_dir() => pending.push(entry.path()),
                    Ok(meta) => total += meta.len(),
                    Err(_) => {}
                }
            }
        }
        total
    })
    .await
    .unwrap_or(0)
}

/// Removes the repositories of apps that no longer exist, now and every `sweep_interval`.
pub(crate) async fn sweep_forever(builder: Builder) {
    loop {
        if let Err(e) = sweep(&builder).await {
            tracing::warn!(error = %e, "repositories of destroyed apps left for the next sweep");
        }
        tokio::time::sleep(builder.inner.settings.sweep_interval).await;
    }
}

/// One sweep: the repositories are listed before the apps are read, so a repository made for
/// an app created in between is never taken for a destroyed app's; each is removed under its
/// app's push lock.
async fn sweep(builder: &Builder) -> anyhow::Result<()> {
    let root = root(&builder.inner.settings);
    let mut found = Vec::new();
    let mut entries = match tokio::fs::read_dir(&root).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    while let Some(entry) = entries.next_entry().await? {
        if let Some(app) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".git"))
        {
            found.push(app.to_owned());
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let apps = builder.inner.platform.store().all_app_ids().await?;
    for app in found.into_iter().filter(|a| !apps.contains(a)) {
        let lock = builder.app_lock(&app);
        let _held = lock.lock().await;
        let exists = match builder.inner.platform.store().app(&app).await {
            Ok(_) => true,
            Err(deis_domain::StoreError::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        };
        if !exists {
            tokio::fs::remove_dir_all(root.join(format!("{app}.git"))).await?;
            tracing::info!(app, "removed the repository of a destroyed app");
        }
    }
    Ok(())
}
