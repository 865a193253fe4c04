//! The use cases of the API, driving the [`Store`] and the [`Scheduler`], one module per concern.
//!
//! Every change of an app's releases or containers runs under that app's lock, records the
//! desired state first and then asks the scheduler to make it so; when the scheduler fails,
//! the recorded step is withdrawn, so the database never claims what the engine refused.
//! A controller killed between the two converges through [`Platform::reconcile`].
//!
//! Deploys and scales are one pipeline (`deploy::carry_out`, `containers::scale_locked`):
//! record, publish the image, start, wait until the routable containers answer (`routes`),
//! switch the router's table, drain the old containers' requests, stop them — or withdraw.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::certificate::SealingKey;
use crate::error::{Error, SchedulerError, StoreError};
use crate::model::{
    App, Build, Config, Container, ContainerState, Domain, JsonMap, Key, NewRelease, Push, Release,
    Structure, User, container_name,
};
use crate::page::{Page, PageSel};
use crate::release::{self, SummaryInput};
use crate::routing::{AppRoutes, Endpoint, Routing, Unhealthy};
use crate::scheduler::{ContainerSpec, Observed, RunOutput, RunSpec, Scheduler};
use crate::store::{AppScope, Store};
use crate::timefmt;
use crate::validate::{self, Collector, REQUIRED};

mod accounts;
mod apps;
mod builder;
mod certs;
mod containers;
mod deploy;
mod domains;
mod hooks;
mod images;
mod oneoff;
mod quota;
mod reconcile;
mod restart;
mod routes;
mod sharing;
mod throttling;

pub use accounts::Regenerate;
pub use builder::{PushInput, parse_procfile};
pub use certs::CertInput;
pub use deploy::BuildInput;
pub use images::image_reference;
pub use oneoff::LogFilter;
pub use quota::Quotas;
pub use restart::RestartTarget;

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    /// Apps are reachable at `{app}.{domain}`.
    pub domain: String,
    /// How many lines `logs` answers.
    pub log_lines: u64,
    /// How long a one-off `run` may take before it is killed.
    pub run_timeout: Duration,
    /// Bytes of a one-off `run`'s output kept for the answer.
    pub run_output_limit: usize,
    /// `PORT` given to containers unless the config sets one.
    pub default_port: u16,
    /// Port of the router's listener as clients see it; app URLs name it unless it is 80.
    pub public_port: Option<u16>,
    /// How long a deploy waits for new routable containers to answer their health check.
    pub health_timeout: Duration,
    /// How long old containers may finish their requests after they left the route table.
    pub drain_grace: Duration,
    /// How much users may create (see [`Quotas`]).
    pub quotas: Quotas,
    /// How many failed logins and wrong builder keys are allowed, over how long.
    pub throttle: crate::throttle::Throttle,
    /// Seals the private keys of stored certificates.
    pub sealing_key: SealingKey,
    /// Release images kept per app (the latest releases'), enough to roll back.
    pub keep_releases: usize,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        Self {
            domain: "deisapp.local".into(),
            log_lines: 1000,
            run_timeout: Duration::from_secs(20 * 60),
            run_output_limit: 1024 * 1024,
            default_port: 5000,
            public_port: None,
            health_timeout: Duration::from_secs(60),
            drain_grace: Duration::from_secs(10),
            quotas: Quotas::default(),
            throttle: crate::throttle::Throttle::default(),
            sealing_key: SealingKey::random(),
            keep_releases: 5,
        }
    }
}

/// The platform's use cases over a store and a scheduler.
#[derive(Clone)]
pub struct Platform {
    store: Arc<dyn Store>,
    scheduler: Arc<dyn Scheduler>,
    routing: Arc<dyn Routing>,
    settings: PlatformSettings,
}

/// The process types an app's latest build can run.
fn valid_type(build: &Build, proc_type: &str) -> bool {
    proc_type == "cmd" || build.procfile.contains_key(proc_type)
}

fn unavailable(what: &str, e: &SchedulerError) -> Error {
    Error::Unavailable(format!("{what}: {e}"))
}

impl Platform {
    /// Wires the use cases to their ports.
    pub fn new(
        store: Arc<dyn Store>,
        scheduler: Arc<dyn Scheduler>,
        routing: Arc<dyn Routing>,
        settings: PlatformSettings,
    ) -> Self {
        Self {
            store,
            scheduler,
            routing,
            settings,
        }
    }

    /// The store behind the platform.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The scheduler behind the platform (readiness probes and metrics ask it directly).
    pub fn scheduler(&self) -> &Arc<dyn Scheduler> {
        &self.scheduler
    }

    /// The settings of the platform.
    pub fn settings(&self) -> &PlatformSettings {
        &self.settings
    }

    /// The app's host name under the platform's domain.
    pub fn host(&self, app: &str) -> String {
        format!("{app}.{}", self.settings.domain)
    }

    /// Where users open the app: its host name, with the router's port unless that is 80.
    pub fn url(&self, app: &str) -> String {
        match self.settings.public_port {
            Some(port) if port != 80 => format!("{}:{port}", self.host(app)),
            _ => self.host(app),
        }
    }

    /// Whether the user may see the app: owner, collaborator or admin.
    pub(super) async fn can_see(&self, user: &User, app: &App) -> Result<bool, Error> {
        Ok(user.is_superuser
            || app.owner == user.username
            || self.store.is_collaborator(&app.id, &user.username).await?)
    }

    /// The app's long-running containers: every recorded one except one-off `run`s.
    pub(super) async fn processes(&self, app: &str) -> Result<Vec<Container>, Error> {
        let mut all = self.store.containers(app).await?;
        all.retain(|c| c.proc_type != "run");
        Ok(all)
    }

    /// The app if the user may see it, else `NotFound`.
    pub async fn visible_app(&self, user: &User, id: &str) -> Result<App, Error> {
        if !validate::is_app_id(id) {
            return Err(Error::NotFound);
        }
        let app = self.store.app(id).await?;
        if self.can_see(user, &app).await? {
            Ok(app)
        } else {
            Err(Error::NotFound)
        }
    }

    pub(super) async fn manageable_app(&self, user: &User, id: &str) -> Result<App, Error> {
        let app = self.visible_app(user, id).await?;
        if user.is_superuser || app.owner == user.username {
            Ok(app)
        } else {
            Err(Error::ForbiddenEmpty)
        }
    }

    pub(super) async fn event(&self, app: &str, message: String) {
        if let Err(e) = self.store.append_events(app, vec![message]).await {
            tracing::warn!(app, error = %e, "could not record an event");
        }
    }
}

fn require_admin(user: &User) -> Result<(), Error> {
    if user.is_superuser {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// The first seven characters of a uuid, as event lines show them.
fn short(uuid: Uuid) -> String {
    uuid.simple().to_string().chars().take(7).collect()
}
