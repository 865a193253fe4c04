//! The builder: `git push` over SSH builds a Dockerfile app and deploys it.
//!
//! - `ssh`: the SSH server (russh on *ring*), user `git`, public keys registered through
//!   `/v1/keys`, wrong keys throttled per client address; only `git-receive-pack` and
//!   `git-upload-pack` of an app the user may use.
//! - `repos`: one bare repository per app under `{data_dir}/repos`, served by the system's
//!   git; repositories of destroyed apps are swept away.
//! - `hook`: git runs a `pre-receive` hook (the controller binary's hidden `builder-hook`
//!   command) that hands the pushed refs to this process over a unix socket and prints what
//!   comes back; its exit status decides whether git updates the refs, so a failed build
//!   fails the push and leaves the repository as it was.
//! - `push`: the build of a pushed `master`/`main`: `git archive` of the commit as the build
//!   context, the Dockerfile built on the engine and deployed through
//!   [`Platform::deploy_push`].

mod command;
mod hook;
mod hostkey;
mod push;
mod repos;
mod ssh;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use deis_domain::{Key, Platform, User};

pub use hook::run_hook;

/// How the builder runs.
#[derive(Debug, Clone)]
pub struct BuilderSettings {
    /// Directory of the repositories (`repos/`), the hook socket and the hook script.
    pub data_dir: PathBuf,
    /// Program git runs as the `pre-receive` hook, with the argument `builder-hook`.
    pub hook_program: PathBuf,
    /// Largest size of one app's repository on disk, in bytes.
    pub max_repo_size: u64,
    /// Largest build context (the commit's tar archive), in bytes.
    pub max_build_context: u64,
    /// Seconds between sweeps removing the repositories of destroyed apps.
    pub sweep_interval: Duration,
}

/// What one `git-receive-pack` session may build: who pushes, to which app, how.
#[derive(Debug, Clone)]
struct PushSession {
    user: User,
    key: Key,
    app: String,
    ssh_connection: String,
    command: String,
}

struct Inner {
    platform: Platform,
    settings: BuilderSettings,
    /// Live receive-pack sessions by the secret token their hook presents.
    sessions: Mutex<HashMap<String, PushSession>>,
    /// One lock per app: its pushes (and the sweep of its repository) go one at a time.
    apps: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The builder: cheap to clone, every clone serves the same state.
#[derive(Clone)]
pub struct Builder {
    inner: Arc<Inner>,
}

impl Builder {
    /// A builder deploying through `platform`.
    pub fn new(platform: Platform, settings: BuilderSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                platform,
                settings,
                sessions: Mutex::new(HashMap::new()),
                apps: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Serves SSH on `listener` until `shutdown` completes: loads (or makes and keeps) the
    /// host key, writes the hook, opens the hook socket and sweeps repositories of destroyed
    /// apps.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let host_key = hostkey::load_or_create(self.inner.platform.store().as_ref())
            .await
            .context("loading the builder's host key")?;
        let hooks = repos::write_hook(&self.inner.settings)
            .await
            .context("writing the builder's git hook")?;
        let socket = hook::listen(&self.inner.settings.data_dir)
            .context("opening the builder's hook socket")?;
        let hook_task = tokio::spawn(hook::accept(self.clone(), socket));
        let sweep_task = tokio::spawn(repos::sweep_forever(self.clone()));
        let result = ssh::serve(self.clone(), host_key, hooks, listener, shutdown).await;
        hook_task.abort();
        sweep_task.abort();
        let _ = std::fs::remove_file(hook::socket_path(&self.inner.settings.data_dir));
        result
    }

    /// The lock of one app's pushes.
    fn app_lock(&self, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut apps = self
            .inner
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        apps.entry(app.to_owned()).or_default().clone()
    }
}
