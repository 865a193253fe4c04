//! Quotas: how many apps a user may own, how many containers an app may have, how many the
//! whole platform gives the engine and how many one-off runs an app may have going at once.
//!
//! Every check runs before anything is recorded or started, so a refused request leaves no
//! trace. Administrators are exempt from the per-user and per-app quotas, never from the
//! platform's bound, which keeps the engine well below what it can hold. Counts that only grow
//! (more apps, more containers) are checked; shrinking is always allowed, so lowering a quota
//! never traps an app above it.

use super::*;

/// How long after it started a one-off run's record counts as going, beyond the run timeout.
pub(super) const RUN_GRACE: Duration = Duration::from_secs(60);

/// Limits on what users may create (settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Apps one user may own; administrators are exempt.
    pub apps_per_user: u64,
    /// Long-running containers one app may have; administrators are exempt.
    pub containers_per_app: u64,
    /// Containers of the whole platform, long-running ones and one-off runs together; nobody
    /// is exempt.
    pub containers: u64,
    /// One-off runs one app may have going at once.
    pub runs_per_app: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            apps_per_user: 100,
            containers_per_app: 50,
            containers: 300,
            runs_per_app: 5,
        }
    }
}

/// The sum of the counts of a structure (negative counts never reach here).
fn total<'a>(counts: impl Iterator<Item = &'a i64>) -> u64 {
    counts
        .map(|n| u64::try_from(*n).unwrap_or(0))
        .fold(0, u64::saturating_add)
}

impl Platform {
    /// Refuses a new app when its owner already owns as many apps as allowed, or when the
    /// structure it is created with asks for more containers than an app may have.
    pub(super) async fn check_new_app(
        &self,
        user: &User,
        structure: &Structure,
    ) -> Result<(), Error> {
        let quotas = &self.settings.quotas;
        self.check_app_size(user, total(structure.values()))?;
        if user.is_superuser {
            return Ok(());
        }
        let owned = self.store.count_owned_apps(&user.username).await?;
        if owned >= quotas.apps_per_user {
            return Err(Error::Quota(format!(
                "You own {owned} apps, the most one user may own ({}); destroy one first.",
                quotas.apps_per_user
            )));
        }
        Ok(())
    }

    /// Refuses a scale of the app that would take it past the per-app quota or the platform
    /// past its bound. The caller holds the app's lock.
    pub(super) async fn check_scale(
        &self,
        user: &User,
        app: &App,
        request: &Structure,
    ) -> Result<(), Error> {
        let existing = self.processes(&app.id).await?;
        let mut per_type: BTreeMap<&str, i64> = BTreeMap::new();
        for c in &existing {
            *per_type.entry(c.proc_type.as_str()).or_default() += 1;
        }
        for (proc_type, wanted) in request {
            per_type.insert(proc_type, *wanted);
        }
        let before = u64::try_from(existing.len()).unwrap_or(u64::MAX);
        self.check_growth(user, before, total(per_type.values()))
            .await
    }

    /// Refuses the first deploy of a build when the containers it would start do not fit.
    /// The caller holds the app's lock.
    pub(super) async fn check_first_deploy(
        &self,
        user: &User,
        app: &App,
        procfile: &JsonMap,
    ) -> Result<(), Error> {
        if !self.processes(&app.id).await?.is_empty() {
            return Ok(());
        }
        let starts = if app.structure.is_empty() {
            // The default structure: one `web` or one `cmd`.
            1
        } else {
            total(
                app.structure
                    .iter()
                    .filter(|(t, _)| *t == "cmd" || procfile.contains_key(*t))
                    .map(|(_, n)| n),
            )
        };
        self.check_growth(user, 0, starts).await
    }

    /// Refuses another one-off run when the app has as many going as allowed, or when the
    /// platform is full. `containers` are the app's records; the caller holds its lock.
    pub(super) async fn check_run(&self, app: &str, containers: &[Container]) -> Result<(), Error> {
        let now = timefmt::now();
        let since = self.runs_since(now);
        let recorded: Vec<&Container> = containers
            .iter()
            .filter(|c| c.proc_type == "run" && c.state == ContainerState::Up && c.created > since)
            .collect();
        let allowed = usize::try_from(self.settings.quotas.runs_per_app).unwrap_or(usize::MAX);
        if recorded.len() >= allowed {
            // A record whose container the engine no longer holds ended without being told
            // (its controller stopped); a record younger than the grace may not have its
            // container yet. The engine's word counts only when it answers.
            let fresh = now - RUN_GRACE;
            let going = match self.scheduler.list(Some(app)).await {
                Ok(observed) => {
                    let names: HashSet<&str> = observed.iter().map(|o| o.name.as_str()).collect();
                    recorded
                        .iter()
                        .filter(|c| c.created > fresh || names.contains(c.name().as_str()))
                        .count()
                }
                Err(_) => recorded.len(),
            };
            if going >= allowed {
                return Err(Error::TooMany {
                    message: format!(
                        "This app already runs {going} one-off commands, the most allowed at \
                         once; try again when one has finished."
                    ),
                    retry_after: None,
                });
            }
        }
        self.check_platform_room(1).await
    }

    /// Refuses an app of `size` containers when it is more than an app may have (or than the
    /// whole platform may hold).
    fn check_app_size(&self, user: &User, size: u64) -> Result<(), Error> {
        let quotas = &self.settings.quotas;
        if !user.is_superuser && size > quotas.containers_per_app {
            return Err(Error::Quota(format!(
                "An app may have at most {} containers; {size} were asked for.",
                quotas.containers_per_app
            )));
        }
        if size > quotas.containers {
            return Err(Error::Quota(format!(
                "The platform holds at most {} containers; {size} were asked for.",
                quotas.containers
            )));
        }
        Ok(())
    }

    /// Refuses taking an app from `before` to `after` long-running containers when that grows
    /// it past its quota or the platform past its bound.
    async fn check_growth(&self, user: &User, before: u64, after: u64) -> Result<(), Error> {
        if after <= before {
            return Ok(());
        }
        self.check_app_size(user, after)?;
        self.check_platform_room(after - before).await
    }

    /// Refuses `more` containers when the platform cannot take them.
    async fn check_platform_room(&self, more: u64) -> Result<(), Error> {
        let most = self.settings.quotas.containers;
        let held = self
            .store
            .count_containers(self.runs_since(timefmt::now()))
            .await?;
        if held.saturating_add(more) > most {
            return Err(Error::Quota(format!(
                "The platform holds at most {most} containers and has {held}; {more} more do \
                 not fit. Scale something down first."
            )));
        }
        Ok(())
    }

    /// Runs started before this instant have ended by now (their timeout killed them).
    fn runs_since(&self, now: time::OffsetDateTime) -> time::OffsetDateTime {
        time::Duration::try_from(self.settings.run_timeout + RUN_GRACE)
            .ok()
            .and_then(|d| now.checked_sub(d))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}
